import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { answerProtocolError, toErrorReply } from './error-envelope.js';

describe('toErrorReply', () => {
  const reset = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });

  it('answers a client that hung up mid-body with a 400 that says so', () => {
    expect(toErrorReply(reset, { raw: { readableAborted: true } as never })).toEqual({
      statusCode: 400,
      body: { status: 'error', message: 'The client closed the connection before its body arrived' },
    });
  });

  // A database connection reset carries the same code: a fault of ours, not the client's (a review's find).
  it('answers any other connection reset with a 500', () => {
    const internal = { statusCode: 500, body: { status: 'error', message: 'Internal server error', code: 500 } };
    expect(toErrorReply(reset, { raw: { readableAborted: false } as never })).toEqual(internal);
    expect(toErrorReply(reset)).toEqual(internal);
  });

  // node:http answers a request that came too slowly itself (408, through answerProtocolError)
  // and cuts its body off: the request then ends as if the client had hung up (a review's find).
  it('answers a body cut off for arriving too slowly with the 408 the client was sent', () => {
    const socket = new PassThrough();
    const written: string[] = [];
    socket.on('data', (chunk) => written.push(String(chunk)));
    // answerProtocolError destroys the socket with the error, as node:http's own handler does.
    socket.on('error', () => undefined);
    answerProtocolError(Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
    expect(toErrorReply(reset, { raw: { readableAborted: true, socket } as never })).toEqual({
      statusCode: 408,
      body: { status: 'error', message: 'The request took too long to arrive' },
    });
    expect(written.join('')).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    // Another connection's hang-up is still a hang-up.
    expect(toErrorReply(reset, { raw: { readableAborted: true, socket: new PassThrough() } as never }).statusCode).toBe(400);
  });
});
