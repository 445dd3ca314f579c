/**
 * Application errors carry the HTTP status and the seed's error envelope fields, so that one
 * error handler can answer every failure the same way. No Fastify imports here: domain and
 * intake code throw these without knowing about HTTP frameworks.
 */

/** Field path (dotted, Laravel-style) → readable messages. */
export type FieldErrors = Record<string, string[]>;

export type ErrorCode =
  | 'invalid_webhook_data'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'too_many_requests'
  | 'upgrade_required'
  | 'conflict'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'bad_request'
  | 'internal_error';

/**
 * Most fields one error names. A body can hold thousands of bad items (a v3 batch of empty
 * objects), and each would be named in the response, the webhook log and the log line: 256 KiB
 * sent made 13 MB of each.
 */
export const MAX_FIELD_ERRORS = 100;
/** Where the fields past MAX_FIELD_ERRORS are counted: no field's path is `*`. */
export const MORE_FIELD_ERRORS = '*';

/**
 * Adds one message under `path`, once. As an own key whatever the path: a field named
 * `constructor` or `__proto__` must not find (or replace) what every object inherits.
 */
export function addFieldError(errors: FieldErrors, path: string, message: string): void {
  if (!Object.hasOwn(errors, path)) Object.defineProperty(errors, path, { value: [], enumerable: true, writable: true, configurable: true });
  const messages = errors[path]!;
  if (!messages.includes(message)) messages.push(message);
}

/** The first MAX_FIELD_ERRORS fields of `errors`, and how many more there are (under `*`). */
export function limitFieldErrors(errors: FieldErrors): FieldErrors {
  // Limited already (by the intake, then again as the error is raised): the count stands.
  const paths = Object.keys(errors).filter((path) => path !== MORE_FIELD_ERRORS);
  if (paths.length <= MAX_FIELD_ERRORS) return errors;
  const limited: FieldErrors = {};
  for (const path of paths.slice(0, MAX_FIELD_ERRORS)) for (const message of errors[path]!) addFieldError(limited, path, message);
  addFieldError(limited, MORE_FIELD_ERRORS, `${paths.length - MAX_FIELD_ERRORS} more fields are invalid; only the first ${MAX_FIELD_ERRORS} are listed.`);
  return limited;
}

export class AppError extends Error {
  readonly errors?: FieldErrors;

  constructor(
    readonly code: ErrorCode,
    readonly httpStatus: number,
    message: string,
    errors?: FieldErrors,
  ) {
    super(message);
    this.name = 'AppError';
    if (errors) this.errors = limitFieldErrors(errors);
  }
}

/** The seed's 400 for any body that is not a valid webhook. */
export function invalidWebhookData(errors: FieldErrors): AppError {
  return new AppError('invalid_webhook_data', 400, 'Invalid webhook data', errors);
}
