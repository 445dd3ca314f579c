import { describe, expect, it } from 'vitest';
import { toErrorReply } from './error-envelope.js';

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
});
