/**
 * Who sent this webhook? Checked on the raw bytes, before any JSON parsing, so that a forged or
 * junk body costs one HMAC and nothing more. Schemes, in order (the first present one decides):
 *
 * 1. Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
 * 2. `X-Webhook-Signature` / `X-Hub-Signature-256: sha256=<hex>` over the whole raw body.
 * 3. The seed's body field `"signature":"sha256=<hex>"`, which must be the last member; the signed
 *    bytes are the body without it (what `JSON.stringify({event, data})` gives the sender).
 * 4. `Authorization: Bearer <token>` or `?token=<token>`, for senders that cannot sign (Wazzup24).
 *
 * Never re-serialise JSON to check a signature: key order, numbers and escapes would change.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { bearerToken, createTokenMatcher } from '../security/token-matcher.js';

export type AuthScheme = 'standard-webhooks' | 'signature-header' | 'signature-field' | 'bearer' | 'url-token' | 'open';

export type AuthResult =
  | {
      ok: true;
      scheme: AuthScheme;
      /** Which secret or token matched (`secret-1` is the current one), never the secret itself. */
      keyId: string | null;
      /** For `signature-field`: the signature that was verified, to be checked against the parsed body. */
      bodySignature?: string;
    }
  | { ok: false; reason: string };

export interface AuthInput {
  rawBody: Buffer;
  headers: Record<string, string | string[] | undefined>;
  queryToken: string | undefined;
  /** Epoch ms, for the Standard Webhooks timestamp window. */
  now: number;
}

export interface WebhookAuthenticator {
  /** True when neither secrets nor tokens are configured: every request passes. */
  readonly isOpen: boolean;
  authenticate(input: AuthInput): AuthResult;
  /**
   * After parsing: a body `signature` member that was not verified (not the last member, or
   * written with spaces) is a signature present but wrong, never ignored. Returns the problem, or null.
   */
  checkBodySignature(auth: AuthResult & { ok: true }, bodySignature: unknown): string | null;
}

/** Standard Webhooks' tolerance between the sender's timestamp and ours. */
const TIMESTAMP_TOLERANCE_SECONDS = 300;
const SHA256_SIGNATURE = /^sha256=[0-9a-f]{64}$/;
/** The seed's body signature as the last member, compact, as JSON.stringify writes it. */
const SIGNATURE_FIELD_AT_END = /,"signature":"([^"\\]*)"\}\s*$/;

export function createWebhookAuthenticator(options: {
  secrets: readonly string[];
  tokens: readonly string[];
  requireSignature: boolean;
}): WebhookAuthenticator {
  const secrets = options.secrets.map((secret, i) => ({
    id: `secret-${i + 1}`,
    key: Buffer.from(secret, 'utf8'),
    // Standard Webhooks keys are base64 after a `whsec_` prefix; anything else is used as text.
    standardKey: secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8'),
  }));
  const matchToken = createTokenMatcher(options.tokens.map((value, i) => ({ id: `token-${i + 1}`, value })));
  const isOpen = secrets.length === 0 && options.tokens.length === 0;

  const header = (headers: AuthInput['headers'], name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };

  const verifyHex = (signature: string, signed: Buffer[]): AuthResult => {
    if (!SHA256_SIGNATURE.test(signature)) return { ok: false, reason: 'The signature must be "sha256=" followed by 64 lowercase hex digits.' };
    const expected = Buffer.from(signature.slice('sha256='.length), 'hex');
    for (const secret of secrets) {
      const hmac = createHmac('sha256', secret.key);
      for (const part of signed) hmac.update(part);
      if (timingSafeEqual(hmac.digest(), expected)) return { ok: true, scheme: 'signature-header', keyId: secret.id };
    }
    return { ok: false, reason: 'The signature does not match.' };
  };

  const verifyStandardWebhooks = (input: AuthInput, id: string | undefined, timestamp: string | undefined, signatures: string): AuthResult => {
    if (!id || !timestamp || !/^\d{1,12}$/.test(timestamp)) {
      return { ok: false, reason: 'Standard Webhooks needs webhook-id and a numeric webhook-timestamp.' };
    }
    if (Math.abs(input.now / 1000 - Number(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS) {
      return { ok: false, reason: 'The webhook-timestamp is more than 5 minutes away from our clock.' };
    }
    const candidates = signatures
      .split(' ')
      .filter((entry) => entry.startsWith('v1,'))
      .map((entry) => Buffer.from(entry.slice(3), 'base64'))
      .filter((bytes) => bytes.length === 32);
    for (const secret of secrets) {
      const expected = createHmac('sha256', secret.standardKey).update(`${id}.${timestamp}.`).update(input.rawBody).digest();
      if (candidates.some((candidate) => timingSafeEqual(candidate, expected))) {
        return { ok: true, scheme: 'standard-webhooks', keyId: secret.id };
      }
    }
    return { ok: false, reason: 'The webhook-signature does not match.' };
  };

  return {
    isOpen,
    authenticate(input) {
      if (isOpen) return { ok: true, scheme: 'open', keyId: null };

      if (secrets.length > 0) {
        const swSignature = header(input.headers, 'webhook-signature');
        if (swSignature !== undefined) {
          return verifyStandardWebhooks(input, header(input.headers, 'webhook-id'), header(input.headers, 'webhook-timestamp'), swSignature);
        }
        const headerSignature = header(input.headers, 'x-webhook-signature') ?? header(input.headers, 'x-hub-signature-256');
        if (headerSignature !== undefined) return verifyHex(headerSignature, [input.rawBody]);

        // Only the end of the body can hold the member; latin1 keeps one character per byte.
        const tailStart = Math.max(0, input.rawBody.length - 256);
        const tail = SIGNATURE_FIELD_AT_END.exec(input.rawBody.toString('latin1', tailStart));
        if (tail) {
          const signed = [input.rawBody.subarray(0, tailStart + tail.index), Buffer.from('}')];
          const result = verifyHex(tail[1]!, signed);
          return result.ok ? { ...result, scheme: 'signature-field', bodySignature: tail[1]! } : result;
        }
      }

      if (options.requireSignature) return { ok: false, reason: 'A signature is required.' };

      const bearerKey = matchToken(bearerToken(header(input.headers, 'authorization')));
      if (bearerKey) return { ok: true, scheme: 'bearer', keyId: bearerKey };
      const urlKey = matchToken(input.queryToken);
      if (urlKey) return { ok: true, scheme: 'url-token', keyId: urlKey };

      return { ok: false, reason: 'Missing or invalid credentials: sign the request or send a valid token.' };
    },

    checkBodySignature(auth, bodySignature) {
      if (auth.scheme === 'signature-field') {
        // The verified tail must be the member JSON.parse kept: no second "signature" key smuggled in.
        return bodySignature === auth.bodySignature ? null : 'The body carries more than one signature member.';
      }
      const unverified = (auth.scheme === 'bearer' || auth.scheme === 'url-token') && secrets.length > 0;
      if (unverified && bodySignature !== undefined) {
        return 'The signature member must be the last member of the body, written without spaces, as "signature":"sha256=<hex>".';
      }
      return null;
    },
  };
}
