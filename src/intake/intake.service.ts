/**
 * Receives one webhook request: parse, apply to the domain in a group-committed transaction
 * together with its webhook-log entry, and announce the changes once they are on disk.
 */
import { receiveContactUpdate } from '../domain/contacts/contacts.service.js';
import type { ContactUpdate } from '../domain/contacts/contacts.types.js';
import type { ChangeResult, DomainEvent } from '../domain/domain-events.js';
import { receiveMessage, receiveRevision, receiveStatus } from '../domain/messages/messages.service.js';
import type { PhoneCountry } from '../domain/phone.js';
import {
  findWebhookLogEntry,
  insertWebhookLogEntry,
  insertWebhookLogEntryAtCommit,
  markWebhookLogEntryReplayed,
} from '../domain/webhook-log/webhook-log.repository.js';
import type { WebhookLogEntry } from '../domain/webhook-log/webhook-log.types.js';
import { AppError, type FieldErrors } from '../errors.js';
import type { CommitChange } from '../events/change-runner.js';
import type { Executor } from '../storage/executor.js';
import type { GroupCommitter } from '../storage/group-commit.js';
import type { Database } from '../storage/schema.js';
import { newId } from '../storage/ids.js';
import { subjectOf, type IntakeEvent } from './intake-event.js';
import { createRejectionBudget } from './rejection-budget.js';
import type { WebhookAuthenticator } from './webhook-auth.js';
import { parseWebhookBody, type BodyParseResult } from './webhook-body.js';

/** What the HTTP layer knows about a webhook request. */
export interface WebhookRequest {
  rawBody: Buffer | undefined;
  /** Bytes received, or announced by Content-Length when the body was refused unread. */
  sizeBytes: number;
  clientIp: string | null;
  userAgent: string | null;
  /** Epoch ms at which the request arrived. */
  receivedAt: number;
  /** Milliseconds since the request arrived. */
  elapsedMs: () => number;
  headers: Record<string, string | string[] | undefined>;
  /** The `token` query parameter, for senders that can only put a secret in the URL. */
  queryToken: string | undefined;
  /** Inside the IP allowlist; null when no allowlist is set. */
  ipAllowed: boolean | null;
}

export interface IntakeResult {
  entry: WebhookLogEntry;
  /** Set for a 401: why the sender was not believed. */
  unauthorized?: string;
  /** Set for a 400. */
  fieldErrors?: FieldErrors;
  /** Set when a batch was applied without some of its items (answered 200, recorded as `partial`). */
  skippedItems?: FieldErrors;
  /** Set for a 500: the error that stopped processing (details for the log, never for the client). */
  failure?: unknown;
}

/** The minimal logger the intake needs (pino's fits). */
export interface IntakeLogger {
  warn(details: object, message: string): void;
}

export interface IntakeService {
  /** Processes a webhook; resolves once its effects (or its failure) are recorded. */
  receive(request: WebhookRequest): Promise<IntakeResult>;
  /** Records a request refused before its body was read (413, 415, …). */
  recordRejection(request: WebhookRequest, httpStatus: number, message: string): Promise<WebhookLogEntry>;
  /**
   * Runs a recorded request's body through the same domain code again (idempotent), records the
   * replay as a new entry pointing at the original, and marks the original with the result.
   * Undefined when no such entry exists.
   */
  replay(entryId: string): Promise<WebhookLogEntry | undefined>;
}

export function createIntakeService(deps: {
  db: Executor;
  committer: GroupCommitter<Database>;
  /** For the log entries of refused and failed requests: one that takes no writers' lock. */
  logCommitter: GroupCommitter<Database>;
  commitChange: CommitChange;
  logger: IntakeLogger;
  authenticator: WebhookAuthenticator;
  maxJsonDepth: number;
  phoneCountry: PhoneCountry | null;
  /** Refused requests recorded per client and minute (WEBHOOK_LOG_REJECTIONS_PER_MINUTE; rejection-budget.ts). */
  rejectionsPerMinute: number;
  now?: () => number;
}): IntakeService {
  const now = deps.now ?? Date.now;

  const baseEntry = (request: Pick<WebhookRequest, 'receivedAt' | 'clientIp' | 'userAgent' | 'sizeBytes' | 'ipAllowed'>): BaseEntry => ({
    id: newId(),
    receivedAt: request.receivedAt,
    clientIp: request.clientIp,
    userAgent: request.userAgent?.slice(0, 512) ?? null,
    sizeBytes: request.sizeBytes,
    format: null,
    event: null,
    subject: null,
    error: null,
    rawBody: null,
    authScheme: null,
    authKey: null,
    ipAllowed: request.ipAllowed,
    replayOf: null,
    replayedAt: null,
    replayOutcome: null,
  });

  /** Log entries of refused and failed requests are worth keeping but never worth failing a response for. */
  const recordSafely = async (entry: WebhookLogEntry): Promise<void> => {
    try {
      await deps.logCommitter.run((trx) => insertWebhookLogEntry(trx, entry));
    } catch (error) {
      deps.logger.warn({ err: error, webhookEventId: entry.id }, 'could not record webhook log entry');
    }
  };

  const rejections = createRejectionBudget(deps.rejectionsPerMinute);
  /** Records a refused request's entry if its client's budget allows (rejection-budget.ts). */
  const recordRefusal = async (entry: WebhookLogEntry): Promise<void> => {
    const budget = rejections.take(entry.clientIp, now());
    if (budget.record) await recordSafely(entry);
    else if (budget.firstOverBudget) {
      deps.logger.warn(
        { clientIp: entry.clientIp, perMinute: deps.rejectionsPerMinute },
        'refused webhooks beyond WEBHOOK_LOG_REJECTIONS_PER_MINUTE (from this client, or in all) are not recorded in the webhook log this minute',
      );
    }
  };
  const recordRejection = async (request: WebhookRequest, httpStatus: number, message: string): Promise<WebhookLogEntry> => {
    const entry: WebhookLogEntry = {
      ...baseEntry(request),
      outcome: 'rejected',
      httpStatus,
      durationMs: request.elapsedMs(),
      error: { message },
    };
    await recordRefusal(entry);
    return entry;
  };

  const service: IntakeService = {
    recordRejection,
    async receive(request) {
      const rawBytes = request.rawBody ?? Buffer.alloc(0);
      const auth = deps.authenticator.authenticate({
        rawBody: rawBytes,
        headers: request.headers,
        queryToken: request.queryToken,
        now: now(),
      });
      if (!auth.ok) {
        const entry = await recordRejection(request, 401, auth.reason);
        return { entry, unauthorized: auth.reason };
      }
      const parsed = parseWebhookBody(request.rawBody, { receivedAt: request.receivedAt, maxDepth: deps.maxJsonDepth, phoneCountry: deps.phoneCountry });
      const signatureProblem = parsed.ok ? deps.authenticator.checkBodySignature(auth, parsed.signature) : null;
      if (signatureProblem) {
        const entry = await recordRejection(request, 401, signatureProblem);
        return { entry, unauthorized: signatureProblem };
      }
      return apply(parsed, rawBytes, { ...baseEntry(request), authScheme: auth.scheme, authKey: auth.keyId }, request.elapsedMs);
    },

    async replay(entryId) {
      const original = await findWebhookLogEntry(deps.db, entryId);
      if (!original) return undefined;
      if (original.rawBody === null) {
        throw new AppError('conflict', 409, 'This webhook event has no stored body to replay (accepted events keep theirs for WEBHOOK_LOG_BODY_RETENTION_DAYS, failed and partial ones until they expire)');
      }
      const started = performance.now();
      const raw = Buffer.from(original.rawBody, 'utf8');
      const receivedAt = now();
      // Times the body leaves out (a contact event's timestamp, a v3 dateTime) default to when it
      // first arrived, as they did then: the replay time would make old data look newer than
      // what arrived since, and overwrite it.
      const parsed = parseWebhookBody(raw, { receivedAt: await firstArrival(original), maxDepth: deps.maxJsonDepth, phoneCountry: deps.phoneCountry });
      if (parsed.ok) markContactsReplayed(parsed.events);
      const base = {
        ...baseEntry({ receivedAt, clientIp: null, userAgent: 'backchat-replay', sizeBytes: raw.length, ipAllowed: null }),
        authScheme: 'replay',
        replayOf: original.id,
      };
      const { entry } = await apply(parsed, raw, base, () => performance.now() - started);
      await deps.committer.run((trx) => markWebhookLogEntryReplayed(trx, original.id, entry.outcome, receivedAt));
      return entry;
    },
  };
  return service;

  /**
   * When a logged body first arrived. A replay's own entry is dated by that replay, so the chain is
   * followed back to the request Wazzup24 sent (or the earliest entry still kept, after a purge).
   */
  async function firstArrival(entry: WebhookLogEntry): Promise<number> {
    let earliest = entry;
    while (earliest.replayOf !== null) {
      const before = await findWebhookLogEntry(deps.db, earliest.replayOf);
      if (!before) break;
      earliest = before;
    }
    return earliest.receivedAt;
  }

  /**
   * The common path of a received or replayed body: record it as invalid, or apply it and record
   * it in the same transaction, then announce the changes once they are committed.
   */
  async function apply(parsed: BodyParseResult, rawBytes: Buffer, base: BaseEntry, elapsedMs: () => number): Promise<IntakeResult> {
    if (!parsed.ok) {
      const entry: WebhookLogEntry = {
        ...base,
        event: parsed.event,
        outcome: 'invalid',
        httpStatus: 400,
        durationMs: elapsedMs(),
        error: { message: 'Invalid webhook data', errors: parsed.errors },
      };
      // A replay's is always recorded: an admin asked for it.
      await (base.replayOf === null ? recordRefusal(entry) : recordSafely(entry));
      return { entry, fieldErrors: parsed.errors };
    }

    const rawBody = rawBytes.toString('utf8');
    const partial = Object.keys(parsed.itemErrors).length > 0;
    const described = {
      ...base,
      format: parsed.format,
      event: parsed.label,
      subject: subjectFor(parsed.events),
      error: partial ? { message: 'Some items were invalid and skipped', errors: parsed.itemErrors } : null,
    };
    try {
      const entry = await deps.commitChange(async (trx) => {
        const events: DomainEvent[] = [];
        let applied = parsed.events.length === 0;
        for (const event of parsed.events) {
          const change = await applyEvent(trx, event, now());
          applied ||= change.outcome === 'applied';
          events.push(...change.events);
        }
        const entry: WebhookLogEntry = {
          ...described,
          outcome: partial ? 'partial' : applied ? 'accepted' : 'duplicate',
          httpStatus: 200,
          durationMs: elapsedMs(),
          // A pure repeat needs no body to be replayed: its first delivery kept one.
          rawBody: applied || partial ? rawBody : null,
        };
        // Written with the rest of the batch's entries just before the commit.
        insertWebhookLogEntryAtCommit(trx, entry);
        return { result: entry, events };
      });
      return partial ? { entry, skippedItems: parsed.itemErrors } : { entry };
    } catch (failure) {
      const entry: WebhookLogEntry = {
        ...described,
        outcome: 'failed',
        httpStatus: 500,
        durationMs: elapsedMs(),
        error: { message: failure instanceof Error ? failure.message : String(failure) },
        rawBody,
      };
      await recordSafely(entry);
      return { entry, failure };
    }
  }
}

/**
 * Bytes of ids a log entry keeps for search: PostgreSQL's btree index refuses entries over 2,704
 * bytes, which 2,000 characters of ids in another script than Latin exceed.
 */
const SUBJECT_MAX_BYTES = 2000;

/** Every id the body is about (whole ids, as many as fit), so that the log can be searched by any of them. */
function subjectFor(events: readonly IntakeEvent[]): string | null {
  let subject = '';
  for (const id of new Set(events.map(subjectOf))) {
    const longer = subject === '' ? id : `${subject} ${id}`;
    if (Buffer.byteLength(longer) > SUBJECT_MAX_BYTES) break;
    subject = longer;
  }
  return subject || null;
}

/**
 * A replayed body's contact information never wins a tie with information of the same time that
 * arrived since (`ContactUpdate.replayed`): the replay is no later arrival. Within the body, of
 * updates of one contact at one time the last wins, as it did live: the earlier ones are left
 * without information to offer, since, replayed, the first would otherwise win the tie.
 */
function markContactsReplayed(events: readonly IntakeEvent[]): void {
  const updates = events.flatMap((event) => {
    const contact =
      event.kind === 'contact' ? event.contact : event.kind === 'message' ? event.message.contact : event.kind === 'revision' ? event.revision.message?.contact : null;
    return contact ? [contact] : [];
  });
  const sameContactAndTime = (update: ContactUpdate) => `${update.phone ?? ''} ${update.externalKey ?? ''} ${update.occurredAt}`;
  const lastOf = new Map<string, ContactUpdate>();
  for (const update of updates) {
    update.replayed = true;
    lastOf.set(sameContactAndTime(update), update);
  }
  for (const update of updates) {
    if (lastOf.get(sameContactAndTime(update)) === update) continue;
    delete update.name;
    delete update.avatarUrl;
    delete update.username;
    delete update.raw;
  }
}

/** An entry before its outcome is known. */
type BaseEntry = Omit<WebhookLogEntry, 'outcome' | 'httpStatus' | 'durationMs'>;

function applyEvent(trx: Executor, event: IntakeEvent, now: number): Promise<ChangeResult> {
  switch (event.kind) {
    case 'message':
      return receiveMessage(trx, event.message, now);
    case 'status':
      return receiveStatus(trx, event.status, now);
    case 'contact':
      return receiveContactUpdate(trx, event.contact, now);
    case 'revision':
      return receiveRevision(trx, event.revision, now);
  }
}
