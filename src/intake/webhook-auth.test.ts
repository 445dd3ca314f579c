import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createWebhookAuthenticator, type AuthInput } from './webhook-auth.js';

const PROJECT_SECRET = 'test-secret-do-not-use-in-prod-0001';
const PROJECT_SIGNED =
  '{"event":"status","data":{"messageId":"3f1c2e4a-0000-4000-8000-000000000001","status":"delivered","timestamp":"2025-01-01T00:00:00.000Z"}}';
const PROJECT_SIGNATURE = 'sha256=3d879d7bd8c556514cdd8046a984d6ce5fe8e13f9c18d43f9578607c2a373417';

const input = (rawBody: string | Buffer, headers: AuthInput['headers'] = {}, extra: Partial<AuthInput> = {}): AuthInput => ({
  rawBody: Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody, 'utf8'),
  headers,
  queryToken: undefined,
  now: Date.now(),
  ...extra,
});

const signed = (secrets: string[], requireSignature = false, tokens: string[] = []) =>
  createWebhookAuthenticator({ secrets, tokens, requireSignature });

describe('webhook authentication', () => {
  describe('reference test vectors', () => {
    it('GitHub: X-Hub-Signature-256 over the raw body', () => {
      const auth = signed(["It's a Secret to Everybody"]);
      const result = auth.authenticate(
        input('Hello, World!', { 'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' }),
      );
      expect(result).toEqual({ ok: true, scheme: 'signature-header', keyId: 'secret-1' });
    });

    it('Standard Webhooks: id.timestamp.body, base64 key after whsec_, within 5 minutes', () => {
      const auth = signed(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']);
      const headers = {
        'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        'webhook-timestamp': '1614265330',
        'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
      };
      const body = '{"test": 2432232314}';
      expect(auth.authenticate(input(body, headers, { now: 1614265330_000 }))).toMatchObject({ ok: true, scheme: 'standard-webhooks' });
      expect(auth.authenticate(input(body, headers, { now: (1614265330 + 299) * 1000 }))).toMatchObject({ ok: true });
      expect(auth.authenticate(input(body, headers, { now: (1614265330 + 301) * 1000 }))).toMatchObject({ ok: false });
      expect(auth.authenticate(input(body, headers, { now: (1614265330 - 301) * 1000 }))).toMatchObject({ ok: false });
      // Several signatures, space separated (the sender rotating): any match passes.
      const rotated = { ...headers, 'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')} ${headers['webhook-signature']}` };
      expect(auth.authenticate(input(body, rotated, { now: 1614265330_000 }))).toMatchObject({ ok: true });
      expect(auth.authenticate(input(body.replace('2', '3'), headers, { now: 1614265330_000 }))).toMatchObject({ ok: false });
    });

    it('the project vector, as a header', () => {
      const result = signed([PROJECT_SECRET]).authenticate(input(PROJECT_SIGNED, { 'x-webhook-signature': PROJECT_SIGNATURE }));
      expect(result).toEqual({ ok: true, scheme: 'signature-header', keyId: 'secret-1' });
    });

    it('the project vector, as the last body member', () => {
      const body = `${PROJECT_SIGNED.slice(0, -1)},"signature":"${PROJECT_SIGNATURE}"}`;
      const result = signed([PROJECT_SECRET]).authenticate(input(body));
      expect(result).toEqual({ ok: true, scheme: 'signature-field', keyId: 'secret-1', bodySignature: PROJECT_SIGNATURE });
    });
  });

  it('refuses a tampered byte, anywhere', () => {
    const auth = signed([PROJECT_SECRET]);
    for (let i = 0; i < PROJECT_SIGNED.length; i += 7) {
      const tampered = Buffer.from(PROJECT_SIGNED);
      tampered[i] = tampered[i]! ^ 0x01;
      expect(auth.authenticate(input(tampered, { 'x-webhook-signature': PROJECT_SIGNATURE })).ok).toBe(false);
    }
  });

  it('accepts the previous secret during a rotation, and says which one matched', () => {
    const auth = signed(['n'.repeat(40), PROJECT_SECRET]);
    expect(auth.authenticate(input(PROJECT_SIGNED, { 'x-webhook-signature': PROJECT_SIGNATURE }))).toMatchObject({ ok: true, keyId: 'secret-2' });
  });

  it.each([
    ['wrong length', 'sha256=3d879d7bd8c5'],
    ['too long', `${PROJECT_SIGNATURE}00`],
    ['uppercase', PROJECT_SIGNATURE.toUpperCase().replace('SHA256', 'sha256')],
    ['not hex', `sha256=${'z'.repeat(64)}`],
    ['no prefix', PROJECT_SIGNATURE.slice('sha256='.length)],
    ['empty', ''],
  ])('refuses a %s signature without throwing', (_name, signature) => {
    const auth = signed([PROJECT_SECRET]);
    expect(auth.authenticate(input(PROJECT_SIGNED, { 'x-webhook-signature': signature }))).toMatchObject({ ok: false });
    const body = `${PROJECT_SIGNED.slice(0, -1)},"signature":"${signature}"}`;
    expect(auth.authenticate(input(body))).toMatchObject({ ok: false });
  });

  it('refuses a body signature that is not the last member, once the body is parsed', () => {
    const auth = signed([PROJECT_SECRET], false, ['t'.repeat(40)]);
    const body = `{"signature":"${PROJECT_SIGNATURE}",${PROJECT_SIGNED.slice(1)}`;
    const result = auth.authenticate(input(body, { authorization: `Bearer ${'t'.repeat(40)}` }));
    expect(result).toMatchObject({ ok: true, scheme: 'bearer' });
    if (!result.ok) throw new Error('unreachable');
    expect(auth.checkBodySignature(result, PROJECT_SIGNATURE)).toMatch(/last member/);
    // Without a token, nothing else lets it in.
    expect(signed([PROJECT_SECRET]).authenticate(input(body)).ok).toBe(false);
  });

  it('catches a second signature member smuggled before the verified one', () => {
    const auth = signed([PROJECT_SECRET]);
    const body = `${PROJECT_SIGNED.slice(0, -1)},"signature":"${PROJECT_SIGNATURE}"}`;
    const result = auth.authenticate(input(body));
    if (!result.ok) throw new Error('expected a match');
    expect(auth.checkBodySignature(result, PROJECT_SIGNATURE)).toBeNull();
    expect(auth.checkBodySignature(result, 'sha256=other')).toMatch(/more than one/);
  });

  describe('tokens', () => {
    const token = 'wazzup-crm-key-0123456789abcdef0123';
    const auth = createWebhookAuthenticator({ secrets: [], tokens: ['x'.repeat(40), token], requireSignature: false });

    it('accepts a bearer token and a URL token, naming which', () => {
      expect(auth.authenticate(input('{}', { authorization: `Bearer ${token}` }))).toEqual({ ok: true, scheme: 'bearer', keyId: 'token-2' });
      expect(auth.authenticate(input('{}', {}, { queryToken: token }))).toEqual({ ok: true, scheme: 'url-token', keyId: 'token-2' });
    });

    it('refuses a wrong or missing token', () => {
      expect(auth.authenticate(input('{}', { authorization: `Bearer ${token}x` })).ok).toBe(false);
      expect(auth.authenticate(input('{}', { authorization: token })).ok).toBe(false);
      expect(auth.authenticate(input('{}')).ok).toBe(false);
    });

    it('refuses an unsigned request when signatures are required, even with a good token', () => {
      const strict = createWebhookAuthenticator({ secrets: [PROJECT_SECRET], tokens: [token], requireSignature: true });
      expect(strict.authenticate(input(PROJECT_SIGNED, { authorization: `Bearer ${token}` }))).toMatchObject({ ok: false, reason: expect.stringMatching(/required/) });
      expect(strict.authenticate(input(PROJECT_SIGNED, { 'x-webhook-signature': PROJECT_SIGNATURE })).ok).toBe(true);
    });

    it('a present but wrong signature is 401 even with a good token', () => {
      const both = createWebhookAuthenticator({ secrets: [PROJECT_SECRET], tokens: [token], requireSignature: false });
      const result = both.authenticate(input(PROJECT_SIGNED, { authorization: `Bearer ${token}`, 'x-webhook-signature': `sha256=${'0'.repeat(64)}` }));
      expect(result.ok).toBe(false);
    });
  });

  it('is open with nothing configured', () => {
    const auth = createWebhookAuthenticator({ secrets: [], tokens: [], requireSignature: false });
    expect(auth.isOpen).toBe(true);
    expect(auth.authenticate(input('anything'))).toEqual({ ok: true, scheme: 'open', keyId: null });
  });

  it('never throws on random bytes and random signatures', () => {
    const auth = createWebhookAuthenticator({ secrets: [PROJECT_SECRET, 'whsec_' + 'A'.repeat(40)], tokens: ['t'.repeat(40)], requireSignature: false });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.string(), fc.string(), fc.string(), (bytes, signature, id, timestamp) => {
        for (const headers of [
          { 'x-webhook-signature': signature },
          { 'webhook-signature': signature, 'webhook-id': id, 'webhook-timestamp': timestamp },
          { authorization: signature },
        ]) {
          expect(auth.authenticate(input(Buffer.from(bytes), headers)).ok).toBe(false);
        }
      }),
    );
  });

  it('verifies what a sender signs with JSON.stringify, never a re-serialisation', () => {
    const auth = signed([PROJECT_SECRET]);
    // Integer-like keys, 1.0 and escapes would all change if the receiver re-serialised.
    const body = '{"event":"contact","data":{"2":1,"phone":"+77771234567","name":"\\u00e9","x":1.0}}';
    const signature = `sha256=${createHmac('sha256', PROJECT_SECRET).update(body).digest('hex')}`;
    expect(auth.authenticate(input(body, { 'x-webhook-signature': signature })).ok).toBe(true);
    expect(auth.authenticate(input(`${body.slice(0, -1)},"signature":"${signature}"}`)).ok).toBe(true);
  });
});
