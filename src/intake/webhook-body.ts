/**
 * Raw bytes → normalised intake events, or every reason why not. JSON is parsed here (not by
 * Fastify) so that every bad body, malformed or not, gets the same envelope and the same log entry.
 * The body's shape says its format: the seed's `{event, data}`, or Wazzup24 v3's keyed arrays.
 */
import secureJson from 'secure-json-parse';
import { mayHoldUnstorableText, storableText, truncatedText } from '../domain/storable-text.js';
import { limitFieldErrors, type FieldErrors } from '../errors.js';
import type { EventReading, IntakeEvent } from './intake-event.js';
import { nestsDeeperThan, tooDeepMessage } from './json-depth.js';
import { parseSeedBody } from './seed-format.js';
import { isWazzupV3Shaped, parseWazzupV3Body } from './wazzup-v3-format.js';

export type BodyParseResult =
  | {
      ok: true;
      format: 'seed' | 'wazzup_v3';
      /** In the order they are to be applied; empty for bodies that change nothing (`{"test":true}`). */
      events: IntakeEvent[];
      /** What the body carries, for the webhook log and metrics: message, status, contact, batch, test, … */
      label: string;
      /** Items of a batch skipped for their errors; the others are applied. */
      itemErrors: FieldErrors;
      /** The body's top-level `signature` member, if any, for the authenticator to cross-check. */
      signature: unknown;
    }
  | { ok: false; errors: FieldErrors; event: string | null };

/** What reading a body depends on besides its bytes. */
export interface BodyReading extends EventReading {
  /** No real webhook nests anywhere near 32 levels; deeper bodies are refused before parsing. */
  readonly maxDepth: number;
}

export function parseWebhookBody(raw: Buffer | undefined, reading: BodyReading): BodyParseResult {
  const { maxDepth } = reading;
  if (raw === undefined || raw.length === 0) {
    return { ok: false, event: null, errors: { body: ['The request body must not be empty.'] } };
  }
  if (nestsDeeperThan(raw, maxDepth)) {
    return { ok: false, event: null, errors: { body: [tooDeepMessage(maxDepth)] } };
  }
  let body: unknown;
  try {
    // Rejects __proto__ and constructor.prototype keys, which would poison objects downstream.
    body = secureJson.parse(raw, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    const forbidden = error instanceof SyntaxError && /forbidden prototype property/.test(error.message);
    return {
      ok: false,
      event: null,
      errors: {
        body: [
          forbidden
            ? 'The request body must not contain "__proto__" or "constructor.prototype" keys.'
            : 'The request body must be valid JSON.',
        ],
      },
    };
  }
  if (mayHoldUnstorableText(raw)) body = inPlainText(body);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, event: null, errors: { body: ['The request body must be a JSON object.'] } };
  }
  const record = body as Record<string, unknown>;
  if (!('event' in record) && isWazzupV3Shaped(record)) {
    const v3 = parseWazzupV3Body(record, reading);
    // A batch's items can each be wrong: what the response, the webhook log and the log line name is capped.
    if (!v3.ok) return { ok: false, event: null, errors: limitFieldErrors(v3.errors) };
    return { ok: true, format: 'wazzup_v3', events: v3.events, label: v3.label, itemErrors: limitFieldErrors(v3.itemErrors), signature: record.signature };
  }
  // Never cut through an emoji: half of one is stored differently by the two stores.
  const eventName = typeof record.event === 'string' ? truncatedText(record.event, 64) : null;
  const seed = parseSeedBody(record, reading);
  if (!seed.ok) return { ok: false, event: eventName, errors: seed.errors };
  return { ok: true, format: 'seed', events: [seed.event], label: seed.event.kind, itemErrors: {}, signature: record.signature };
}

/**
 * Every string as both stores keep it (storable-text.ts): U+0000 and lone surrogates become U+FFFD.
 * Refusing them instead would make Wazzup24 resend the message for ever, and a message carrying
 * U+0000 would fail on every delivery to PostgreSQL. The raw body in the webhook log keeps the
 * original. (Two ids that differ only there are one id to backchat, on both stores alike.)
 */
function inPlainText(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(inPlainText);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [inPlainText(key) as string, inPlainText(item)]));
  }
  return value;
}
