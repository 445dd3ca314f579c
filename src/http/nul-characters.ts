/**
 * Refuses U+0000 in the strings of an API request (path parameters, query, JSON body) with a 400
 * naming each field. PostgreSQL's text cannot hold the character and answers any statement that
 * carries one with an error (a 500), where SQLite simply finds nothing; checking here, once for
 * every route, gives both stores the same answer. The webhook is left out: its body is raw bytes,
 * and the intake stores U+0000 as U+FFFD instead (docs/API.md).
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { AppError, type FieldErrors } from '../errors.js';
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
 * The 400 for a parsed JSON body that holds U+0000, or undefined. JSON can carry the character
 * only escaped, so `raw` without `\u0000` skips the walk: a large body costs nothing more.
 */
export function nulCharacterErrors(raw: string, body: unknown): AppError | undefined {
  if (!raw.includes('\\u0000')) return undefined;
  const errors: FieldErrors = {};
  collect(body, '', errors);
  return Object.keys(errors).length > 0 ? new AppError('bad_request', 400, 'Invalid request data', errors) : undefined;
}

function collect(value: unknown, path: string, errors: FieldErrors): void {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) flag(path, errors);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [key, item] of Object.entries(value)) {
    const itemPath = path ? `${path}.${key}` : key;
    if (key.includes('\u0000')) flag(itemPath, errors);
    else collect(item, itemPath, errors);
  }
}

function flag(path: string, errors: FieldErrors): void {
  // A member's own name may be what holds the character: show it escaped.
  const name = path.replaceAll('\u0000', '\\u0000') || 'body';
  (errors[name] ??= []).push(`The ${name} field must not contain the NUL character.`);
}
