/**
 * Where a webhook's effects are written: the domain change of each of its events and its
 * webhook-log entry, in one group-committed transaction, after which the change's events are
 * published. Everything a writer is given and returns is plain data, so that on SQLite the
 * writing can run in a worker thread (`threaded-intake-writer.ts`) while the event loop goes on
 * serving HTTP; elsewhere it runs in process (`createInProcessIntakeWriter`).
 */
import { receiveContactUpdate } from '../domain/contacts/contacts.service.js';
import type { ChangeResult, DomainEvent } from '../domain/domain-events.js';
import { receiveMessage, receiveRevision, receiveStatus } from '../domain/messages/messages.service.js';
import { insertWebhookLogEntry } from '../domain/webhook-log/webhook-log.repository.js';
import type { WebhookLogEntry } from '../domain/webhook-log/webhook-log.types.js';
import type { CommitChange } from '../events/change-runner.js';
import type { Executor } from '../storage/executor.js';
import type { GroupCommitter } from '../storage/group-commit.js';
import type { Database } from '../storage/schema.js';
import type { IntakeEvent } from './intake-event.js';

/** A log entry before its outcome is known. */
export type PendingEntry = Omit<WebhookLogEntry, 'outcome' | 'httpStatus' | 'durationMs'>;

/** A valid body, parsed and normalised, ready to be applied. */
export interface BodyToApply {
  events: IntakeEvent[];
  entry: PendingEntry;
  /** Kept with the entry so that it can be replayed. */
  rawBody: string;
  /** Some items of the body were invalid and skipped. */
  partial: boolean;
  /** The time every effect is stamped with (epoch ms). */
  now: number;
  /** How long the request had taken when the body was submitted (ms). */
  elapsedMs: number;
}

export interface IntakeWriter {
  /** Applies the body and records it as accepted, duplicate or partial; rejects when it could not be committed. */
  apply(body: BodyToApply): Promise<WebhookLogEntry>;
  /** Records an entry on its own (a refused, invalid or failed request). */
  record(entry: WebhookLogEntry): Promise<void>;
  /** Waits for what is being written, then stops. */
  close(): Promise<void>;
}

/**
 * The common path, wherever it runs: every event's change and the log entry in one unit of work.
 * `commitChange` stamps the outbox with the body's time.
 */
export async function applyBody(commitChange: CommitChange, body: BodyToApply): Promise<WebhookLogEntry> {
  const submitted = performance.now();
  return commitChange(async (trx) => {
    const events: DomainEvent[] = [];
    let applied = body.events.length === 0;
    for (const event of body.events) {
      const change = await applyEvent(trx, event, body.now);
      applied ||= change.outcome === 'applied';
      events.push(...change.events);
    }
    const entry: WebhookLogEntry = {
      ...body.entry,
      outcome: body.partial ? 'partial' : applied ? 'accepted' : 'duplicate',
      httpStatus: 200,
      durationMs: body.elapsedMs + (performance.now() - submitted),
      // A pure repeat needs no body to be replayed: its first delivery kept one.
      rawBody: applied || body.partial ? body.rawBody : null,
    };
    await insertWebhookLogEntry(trx, entry);
    return { result: entry, events };
  });
}

export function createInProcessIntakeWriter(deps: { committer: GroupCommitter<Database>; commitChange: CommitChange }): IntakeWriter {
  return {
    apply: (body) => applyBody(deps.commitChange, body),
    record: (entry) => deps.committer.run((trx) => insertWebhookLogEntry(trx, entry)),
    close: () => deps.committer.drain(),
  };
}

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
