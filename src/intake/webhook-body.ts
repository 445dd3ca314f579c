/**
 * Raw bytes → a normalised intake event, or every reason why not. JSON is parsed here (not by
 * Fastify) so that every bad body, malformed or not, gets the same envelope and the same log entry.
 */
import secureJson from 'secure-json-parse';
import type { FieldErrors } from '../errors.js';
import type { IntakeEvent } from './intake-event.js';
import { nestsDeeperThan } from './json-depth.js';
import { parseSeedBody } from './seed-format.js';

export type BodyParseResult =
  | {
      ok: true;
      format: 'seed';
      event: IntakeEvent;
      /** The body's top-level `signature` member, if any, for the authenticator to cross-check. */
      signature: unknown;
    }
  | { ok: false; errors: FieldErrors; event: string | null };

/** `maxDepth`: no real webhook nests anywhere near 32 levels; deeper bodies are refused before parsing. */
export function parseWebhookBody(raw: Buffer | undefined, receivedAt: number, maxDepth: number): BodyParseResult {
  if (raw === undefined || raw.length === 0) {
    return { ok: false, event: null, errors: { body: ['The request body must not be empty.'] } };
  }
  if (nestsDeeperThan(raw, maxDepth)) {
    return { ok: false, event: null, errors: { body: [`The request body must not nest deeper than ${maxDepth} levels.`] } };
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
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, event: null, errors: { body: ['The request body must be a JSON object.'] } };
  }
  const record = body as Record<string, unknown>;
  const eventName = typeof record.event === 'string' ? record.event.slice(0, 64) : null;
  const seed = parseSeedBody(record, receivedAt);
  if (!seed.ok) return { ok: false, event: eventName, errors: seed.errors };
  return { ok: true, format: 'seed', event: seed.event, signature: record.signature };
}
