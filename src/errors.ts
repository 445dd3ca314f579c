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

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly httpStatus: number,
    message: string,
    readonly errors?: FieldErrors,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/** The seed's 400 for any body that is not a valid webhook. */
export function invalidWebhookData(errors: FieldErrors): AppError {
  return new AppError('invalid_webhook_data', 400, 'Invalid webhook data', errors);
}
