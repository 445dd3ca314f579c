/**
 * Refuses, in the strings of an API request, characters that the two stores cannot keep alike,
 * with a 400 naming each field: U+0000 (path parameters, query, JSON body), which PostgreSQL's text
 * cannot hold (any statement carrying one is an error, a 500, where SQLite simply finds nothing),
 * and, in a JSON body, a lone surrogate (half of a UTF-16 pair), which PostgreSQL stores as U+FFFD
 * and SQLite as bytes that are no text. Checking here, once for every route, gives both stores the
 * same answer. The webhook is left out: its body is raw bytes, and the intake stores both as
 * U+FFFD instead (docs/API.md).
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { mayHoldUnstorableText, unstorablePart } from '../domain/storable-text.js';
import { addFieldError, AppError, type FieldErrors } from '../errors.js';
import { WEBHOOK_PATH } from '../intake/webhook.routes.js';

/**
 * A `preValidation` hook for path parameters and the query. A callback hook, not an async one: it
 * runs on every request, the webhook's too, and need not cost a promise. (The JSON body is checked
 * as it is parsed: `nulCharacterErrors`.)
 */
export function refuseNulCharacters(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  // Path and query reach us percent-encoded: without `%00` in the URL neither can hold U+0000.
  if (!request.url.includes('%00') || request.routeOptions.url === WEBHOOK_PATH) return done();
  const errors: FieldErrors = {};
  collect(request.params, '', errors);
  collect(request.query, '', errors);
  done(Object.keys(errors).length > 0 ? new AppError('bad_request', 400, 'Invalid request data', errors) : undefined);
}

/**
 * The 400 for a parsed JSON body that holds U+0000 or a lone surrogate, or undefined. JSON can
 * carry either only escaped, so `raw` without `\u0000` or `\ud…` skips the walk: a large body
 * costs nothing more.
 */
export function unstorableCharacterErrors(raw: string, body: unknown): AppError | undefined {
  if (!mayHoldUnstorableText(raw)) return undefined;
  const errors: FieldErrors = {};
  collect(body, '', errors);
  return Object.keys(errors).length > 0 ? new AppError('bad_request', 400, 'Invalid request data', errors) : undefined;
}

function collect(value: unknown, path: string, errors: FieldErrors): void {
  if (typeof value === 'string') {
    flagUnstorable(value, path, errors);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [key, item] of Object.entries(value)) {
    const itemPath = path ? `${path}.${key}` : key;
    if (!flagUnstorable(key, itemPath, errors)) collect(item, itemPath, errors);
  }
}

/** Flags `path` when `text` holds U+0000 or a lone surrogate; says whether it did. */
function flagUnstorable(text: string, path: string, errors: FieldErrors): boolean {
  const part = unstorablePart(text);
  if (part === null) return false;
  const problem = part === 'nul' ? 'must not contain the NUL character' : 'must not contain half of a surrogate pair (a character cut in two)';
  // A member's own name may be what holds the character: show it escaped.
  const name = path.replaceAll('\u0000', '\\u0000').replace(/[\ud800-\udfff]/gu, (half) => `\\u${half.charCodeAt(0).toString(16)}`) || 'body';
  addFieldError(errors, name, `The ${name} field ${problem}.`);
  return true;
}
