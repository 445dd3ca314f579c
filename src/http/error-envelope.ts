/**
 * One error envelope for every /api failure, as the seed shows it:
 * `{"status":"error","message":…}`, plus `errors` for invalid fields and `code` where useful.
 * 5xx details go to the log, never to the client.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { addFieldError, AppError, limitFieldErrors, type FieldErrors } from '../errors.js';

export interface ErrorBody {
  status: 'error';
  message: string;
  errors?: FieldErrors;
  code?: number | string;
}

/** Fastify's own client errors, reworded for people. */
const FASTIFY_CLIENT_ERRORS: Record<string, { status: number; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, message: 'Request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, message: 'Unsupported media type: send application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, message: 'Request body size did not match Content-Length' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, message: 'Request body must not be empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, message: 'Request body must be valid JSON' },
  // Raised by the router before any route or hook runs (Fastify's `frameworkErrors` option).
  FST_ERR_BAD_URL: { status: 400, message: 'The URL is not valid: it has a malformed percent-encoding' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, message: 'A segment of the URL is too long' },
};

/** The status and body to answer `error` with, raised while handling `request`. */
export function toErrorReply(error: unknown, request?: Pick<FastifyRequest, 'raw'>): { statusCode: number; body: ErrorBody } {
  if (error instanceof AppError) {
    const body: ErrorBody = { status: 'error', message: error.message };
    if (error.errors) body.errors = error.errors;
    if (error.httpStatus >= 500) body.code = error.httpStatus;
    return { statusCode: error.httpStatus, body };
  }
  const fastifyError = error as Partial<FastifyError>;
  // The client hung up while its body was being read (Node's "aborted"): nobody reads this
  // answer, but the webhook log and the log line do. Asked of the request, not the error: a
  // database connection reset has the same code, and is a fault of ours (500).
  if (fastifyError.code === 'ECONNRESET' && request?.raw.readableAborted === true) {
    // Or node:http cut it off for arriving too slowly, and answered 408 (answerProtocolError):
    // the log line and the webhook log say what the client was told.
    if (cutOffForSlowness(request.raw.socket)) return { statusCode: 408, body: { status: 'error', message: PROTOCOL_ERRORS.ERR_HTTP_REQUEST_TIMEOUT!.message } };
    return { statusCode: 400, body: { status: 'error', message: 'The client closed the connection before its body arrived' } };
  }
  const known = fastifyError.code ? FASTIFY_CLIENT_ERRORS[fastifyError.code] : undefined;
  if (known) return { statusCode: known.status, body: { status: 'error', message: known.message } };
  if (fastifyError.validation) {
    return { statusCode: 400, body: { status: 'error', message: 'Invalid request data', errors: validationErrors(fastifyError) } };
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { statusCode: status, body: { status: 'error', message: fastifyError.message ?? 'Bad request' } };
  }
  return { statusCode: 500, body: { status: 'error', message: 'Internal server error', code: 500 } };
}

/** Fastify error handler: logs server faults with their details, answers with the envelope. */
export function handleError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  { statusCode, body } = toErrorReply(error, request),
): FastifyReply {
  // A 503 while shutting down is the plan, not a fault: the request's log line says it already.
  const planned = error instanceof AppError && statusCode === 503;
  if (statusCode >= 500 && !planned) request.log.error({ err: error }, 'request failed');
  return reply.code(statusCode).send(body);
}

function validationErrors(error: Partial<FastifyError>): FieldErrors {
  const errors: FieldErrors = {};
  // Keyed like the domain's own errors: the field's dotted path, without `body.` or `querystring.`.
  for (const item of error.validation ?? []) {
    const segments = item.instancePath.split('/').slice(1);
    const params = item.params as { missingProperty?: string; additionalProperty?: string } | undefined;
    if (item.keyword === 'required' && params?.missingProperty) segments.push(params.missingProperty);
    // An unknown field is named, as a missing one is, rather than reported against its whole object.
    if (item.keyword === 'additionalProperties' && params?.additionalProperty) segments.push(params.additionalProperty);
    const path = segments.join('.') || String(error.validationContext ?? 'body');
    addFieldError(errors, path, item.message ?? 'is invalid');
  }
  return limitFieldErrors(errors);
}

/** Node's parser errors, answered before any request exists (no route, no hook, no reply). */
const PROTOCOL_ERRORS: Record<string, { status: number; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive' },
  HPE_HEADER_OVERFLOW: { status: 431, message: 'The request headers are too large' },
};

/** Connections node:http cut off for a request that came too slowly (answered 408 here). */
const timedOut = new WeakSet<object>();

/** Whether node:http cut this connection off for a request that came too slowly, and answered it 408. */
export const cutOffForSlowness = (socket: object | null): boolean => socket !== null && timedOut.has(socket);

/**
 * Fastify's `clientErrorHandler`: a request too malformed to parse (a broken header line, both
 * Content-Length and Transfer-Encoding), headers too large, or a request that came too slowly,
 * answered in the envelope rather than in Fastify's own body, and the connection closed.
 */
export function answerProtocolError(error: Error & { code?: string }, socket: Duplex): void {
  // Reset by the client: nobody is left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') timedOut.add(socket);
  const { status, message } = PROTOCOL_ERRORS[error.code ?? ''] ?? { status: 400, message: 'The request is not valid HTTP' };
  const body = JSON.stringify({ status: 'error', message } satisfies ErrorBody);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
