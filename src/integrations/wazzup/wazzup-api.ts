/**
 * The Wazzup24 API v3 as backchat calls it (https://api.wazzup24.com/v3, `Authorization: Bearer
 * <apiKey>`). Only webhook registration for now; sending replies will live here too.
 */

export interface WebhookSubscriptions {
  messagesAndStatuses: boolean;
  contactsAndDealsCreation: boolean;
  channelsUpdates: boolean;
  templateStatus: boolean;
}

/** What backchat subscribes to: messages and statuses only (it is not a CRM; see docs/WAZZUP24.md). */
export const DEFAULT_SUBSCRIPTIONS: WebhookSubscriptions = {
  messagesAndStatuses: true,
  contactsAndDealsCreation: false,
  channelsUpdates: false,
  templateStatus: false,
};

/** Wazzup24 limits the webhook URL, query string included. */
export const MAX_WEBHOOK_URI_LENGTH = 200;

export type RegisterResult =
  | { ok: true; status: number; body: string }
  | {
      ok: false;
      status: number;
      /** Wazzup24's error code (`testPostNotPassed`, `uriNotValid`, …) when it sent one. */
      error: string | null;
      description: string | null;
      data: unknown;
      body: string;
    };

/**
 * The key as Wazzup24 wants it after `Bearer `: a key pasted with its own `Bearer ` (as the
 * reference notes people do) would otherwise go out as `Bearer Bearer …` and be refused.
 */
export function normalizeApiKey(apiKey: string): string {
  return apiKey.trim().replace(/^bearer\s+/i, '');
}

/**
 * An error code as Wazzup24 spells it in one place or another (`testPostNotPassed`,
 * `TEST_POST_NOT_PASSED`), reduced to one form for comparison: upper case, no underscores.
 */
export function errorCodeKey(code: string): string {
  return code.replace(/_/g, '').toUpperCase();
}

/** `PATCH /v3/webhooks`: sets the one webhook URL of this API key; Wazzup24 test-posts it first. */
export async function registerWebhook(options: {
  apiUrl: string;
  apiKey: string;
  webhooksUri: string;
  subscriptions?: WebhookSubscriptions;
  fetchImpl?: typeof fetch;
}): Promise<RegisterResult> {
  // Under the base URL's own path, for a proxy at https://host/wazzup/ (new URL('/v3/…') would drop it).
  const endpoint = new URL('v3/webhooks', options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/`);
  const response = await (options.fetchImpl ?? fetch)(endpoint, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${normalizeApiKey(options.apiKey)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ webhooksUri: options.webhooksUri, subscriptions: options.subscriptions ?? DEFAULT_SUBSCRIPTIONS }),
    // Wazzup24 test-posts the URL and waits up to 30 s for it.
    signal: AbortSignal.timeout(60_000),
  });
  const body = await response.text();
  if (response.ok) return { ok: true, status: response.status, body };
  // Error bodies are `{error, description, data}`, or empty.
  let parsed: { error?: unknown; description?: unknown; data?: unknown } = {};
  try {
    const json: unknown = JSON.parse(body);
    if (json !== null && typeof json === 'object') parsed = json as typeof parsed;
  } catch {
    // Not JSON: keep the text.
  }
  return {
    ok: false,
    status: response.status,
    error: typeof parsed.error === 'string' ? parsed.error : null,
    description: typeof parsed.description === 'string' ? parsed.description : null,
    data: parsed.data ?? null,
    body,
  };
}
