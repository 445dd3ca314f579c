/**
 * `backchat events list|replay|purge`: the webhook log from a terminal, with the same code as the
 * admin API.
 */
import { parseArgs } from 'node:util';
import { openDependencies } from '../dependencies.js';
import { AppError } from '../errors.js';
import {
  failedWebhookLogIds,
  listWebhookLog,
  parseLogTime,
  purgeExpiredWebhookLog,
} from '../domain/webhook-log/webhook-log.service.js';
import { WEBHOOK_OUTCOMES, type WebhookLogEntry, type WebhookOutcome } from '../domain/webhook-log/webhook-log.types.js';
import { cliConfig, CliError, openingStore, requireMigratedStore, type CliIo } from './cli-context.js';

export const EVENTS_USAGE = `Usage:
  backchat events list [--outcome O] [--event E] [--since DATE] [--until DATE] [--search TEXT] [--limit N] [--json]
  backchat events replay ID [ID …]
  backchat events replay --failed [--since DATE] [--until DATE] [--limit N]
  backchat events purge
`;

/** The options each form of the command takes. */
const OPTIONS_OF: Record<string, string[]> = {
  list: ['outcome', 'event', 'since', 'until', 'search', 'limit', 'json'],
  'replay ID': [],
  'replay --failed': ['failed', 'since', 'until', 'limit'],
  purge: [],
};

export async function eventsCommand(argv: string[], io: CliIo): Promise<void> {
  const [action, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      outcome: { type: 'string' },
      event: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      search: { type: 'string' },
      limit: { type: 'string' },
      failed: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (!['list', 'replay', 'purge'].includes(action ?? '')) throw new CliError(EVENTS_USAGE);
  // What each form takes (EVENTS_USAGE); anything else was ignored, as if it had not been asked:
  // `events list failed` and `events list --failed` listed everything (a review's find).
  if (action !== 'replay' && positionals.length > 0) throw new CliError(`Unexpected argument "${positionals[0]}".\n\n${EVENTS_USAGE}`);
  const form = action === 'replay' ? (values.failed ? 'replay --failed' : 'replay ID') : action!;
  const unexpected = Object.entries(values).flatMap(([name, value]) =>
    value === undefined || value === false || OPTIONS_OF[form]!.includes(name) ? [] : [`--${name}`],
  );
  if (unexpected.length > 0) throw new CliError(`events ${form} does not take ${unexpected.join(', ')}.\n\n${EVENTS_USAGE}`);
  const window = {
    ...(values.since !== undefined && { from: parseDate(values.since, '--since') }),
    ...(values.until !== undefined && { to: parseDate(values.until, '--until') }),
  };
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) throw new CliError('--limit must be a whole number from 1 to 1000');
  if (values.outcome && !WEBHOOK_OUTCOMES.includes(values.outcome as WebhookOutcome)) {
    throw new CliError(`--outcome must be one of ${WEBHOOK_OUTCOMES.join(', ')}`);
  }

  const config = cliConfig();
  await requireMigratedStore(config);
  const silent = { warn: () => undefined, error: () => undefined };
  const deps = await openingStore(() => openDependencies(config, silent));
  const db = deps.database.db;
  try {
    if (action === 'list') {
      const { entries } = await listWebhookLog(db, {
        ...window,
        ...(values.outcome && { outcome: values.outcome as WebhookOutcome }),
        ...(values.event && { event: values.event }),
        ...(values.search && { q: values.search }),
        limit: limit ?? 50,
      });
      if (values.json) io.out.write(`${JSON.stringify(entries.map(({ rawBody: _body, ...entry }) => entry))}\n`);
      else for (const entry of entries) io.out.write(`${describe(entry)}\n`);
      return;
    }

    if (action === 'replay') {
      if (values.failed && positionals.length > 0) throw new CliError(`Name event ids or --failed, not both.\n\n${EVENTS_USAGE}`);
      const ids = values.failed ? await failedWebhookLogIds(db, window, limit ?? 1000) : positionals;
      if (ids.length === 0 && !values.failed) throw new CliError(`Name an event id, or --failed.\n\n${EVENTS_USAGE}`);
      // Every id is tried: one that cannot be replayed (unknown, or without a body) is said and
      // counted, and does not keep the ones after it from their replay.
      let failures = 0;
      let skipped = 0;
      /** The replay of `id`, or undefined when it could not run: an unknown id, an entry without a body (409). */
      const replayOf = async (id: string) => {
        try {
          const replay = await deps.intake.replay(id);
          if (!replay) io.err.write(`${id} not replayed: no webhook event has this id\n`);
          return replay;
        } catch (error) {
          if (!(error instanceof AppError) || error.httpStatus >= 500) throw error;
          io.err.write(`${id} not replayed: ${error.message}\n`);
          return undefined;
        }
      };
      for (const id of ids) {
        const replay = await replayOf(id);
        if (!replay) {
          skipped += 1;
          continue;
        }
        if (replay.outcome !== 'accepted' && replay.outcome !== 'duplicate') failures += 1;
        io.out.write(`${id} replayed as ${replay.id}: ${replay.outcome}${replay.error ? ` (${replay.error.message})` : ''}\n`);
      }
      io.out.write(`${ids.length - skipped} replayed, ${failures} still failing${skipped > 0 ? `, ${skipped} not replayed` : ''}\n`);
      if (failures + skipped > 0) throw new CliError('Some replays did not succeed.');
      return;
    }

    const result = await purgeExpiredWebhookLog(
      db,
      { retentionDays: config.webhookLogRetentionDays, bodyRetentionDays: config.webhookLogBodyRetentionDays },
      Date.now(),
    );
    io.out.write(`Deleted ${result.deleted} entries older than ${config.webhookLogRetentionDays} days; dropped ${result.bodiesDropped} bodies older than ${config.webhookLogBodyRetentionDays} days.\n`);
  } finally {
    await deps.close();
  }
}

function describe(entry: WebhookLogEntry): string {
  return [
    entry.id,
    new Date(entry.receivedAt).toISOString(),
    String(entry.httpStatus),
    entry.outcome.padEnd(9),
    (entry.event ?? '-').padEnd(7),
    entry.subject ?? '-',
    entry.error ? `— ${entry.error.message}` : '',
  ].join('  ').trimEnd();
}

function parseDate(text: string, flag: string): number {
  const ms = parseLogTime(text);
  if (ms === undefined) throw new CliError(`${flag} must be an ISO-8601 date, got "${text}"`);
  return ms;
}
