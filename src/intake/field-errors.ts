/**
 * Turns Ajv's errors into the seed's Laravel-style `errors`: dotted field path → readable
 * messages, every problem at once.
 */
import type { ErrorObject } from 'ajv';
import { addFieldError, type FieldErrors } from '../errors.js';

/** Converts Ajv errors found under `prefix` (e.g. `data`) into field errors. */
export function collectAjvErrors(errors: FieldErrors, ajvErrors: readonly ErrorObject[] | null | undefined, prefix = ''): void {
  for (const error of ajvErrors ?? []) {
    // `if` only says that a `then` failed; the `then` error itself is reported too.
    if (error.keyword === 'if') continue;
    const segments = error.instancePath.split('/').slice(1).map(unescapePointer);
    if (prefix) segments.unshift(prefix);
    if (error.keyword === 'required') segments.push(String(error.params.missingProperty));
    const path = segments.join('.') || 'body';
    const message = describe(error, path);
    addFieldError(errors, path, message);
  }
}

function describe(error: ErrorObject, path: string): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `The ${path} field is required.`;
    case 'type': {
      const types = String(params.type).split(',').map(withArticle);
      return `The ${path} field must be ${types.join(' or ')}.`;
    }
    case 'enum':
    case 'const': {
      const allowed = (params.allowedValues as unknown[] | undefined) ?? [params.allowedValue];
      return `The selected ${path} is invalid; expected one of: ${allowed.join(', ')}.`;
    }
    case 'minLength':
      return params.limit === 1 ? `The ${path} field must not be empty.` : `The ${path} field must be at least ${String(params.limit)} characters.`;
    case 'maxLength':
      return `The ${path} field must not be longer than ${String(params.limit)} characters.`;
    case 'minimum':
      return `The ${path} field must be at least ${String(params.limit)}.`;
    case 'maximum':
      return `The ${path} field must not be greater than ${String(params.limit)}.`;
    default:
      return `The ${path} field ${error.message ?? 'is invalid'}.`;
  }
}

function withArticle(type: string): string {
  if (type === 'null') return 'null';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}
