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

interface ApiCall {
  apiUrl: string;
  apiKey: string;
  fetchImpl?: typeof fetch;
}

/** How long a call waits for Wazzup24's answer. */
export const API_TIMEOUT_MS = 15_000;
/** How long registering waits: Wazzup24 test-posts the URL and waits up to 30 s for it. */
export const REGISTER_TIMEOUT_MS = 60_000;

/** One call to the API: under the base URL's own path, with the key as a bearer token. */
function callApi(options: ApiCall, method: 'GET' | 'PATCH', path: string, body?: unknown, timeoutMs = API_TIMEOUT_MS): Promise<Response> {
  // Under the base URL's own path, for a proxy at https://host/wazzup/ (new URL('/v3/…') would drop it).
  const endpoint = new URL(path, options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/`);
  return (options.fetchImpl ?? fetch)(endpoint, {
    method,
    headers: {
      authorization: `Bearer ${normalizeApiKey(options.apiKey)}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
}

/** `PATCH /v3/webhooks`: sets the one webhook URL of this API key; Wazzup24 test-posts it first. */
export async function registerWebhook(
  options: ApiCall & { webhooksUri: string; subscriptions?: WebhookSubscriptions },
): Promise<RegisterResult> {
  const response = await callApi(
    options,
    'PATCH',
    'v3/webhooks',
    { webhooksUri: options.webhooksUri, subscriptions: options.subscriptions ?? DEFAULT_SUBSCRIPTIONS },
    REGISTER_TIMEOUT_MS,
  );
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

export interface WebhookSettings {
  webhooksUri: string | null;
  subscriptions: WebhookSubscriptions;
}

/**
 * `GET /v3/webhooks`: the settings Wazzup24 keeps. The documentation shows the switches as
 * strings ("true"), a live account answered booleans and named the template switch
 * `wabaTemplatesStatus`; all of these are read. Not ok when the answer is an error or not an object.
 */
export async function readWebhookSettings(options: ApiCall): Promise<{ ok: true; settings: WebhookSettings } | { ok: false; status: number; body: string }> {
  const response = await callApi(options, 'GET', 'v3/webhooks');
  const body = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  if (!response.ok || json === null || typeof json !== 'object') return { ok: false, status: response.status, body };
  const { webhooksUri, subscriptions } = json as { webhooksUri?: unknown; subscriptions?: unknown };
  const switches = (subscriptions !== null && typeof subscriptions === 'object' ? subscriptions : {}) as Record<string, unknown>;
  const on = (value: unknown) => value === true || value === 'true';
  return {
    ok: true,
    settings: {
      webhooksUri: typeof webhooksUri === 'string' && webhooksUri !== '' ? webhooksUri : null,
      subscriptions: {
        messagesAndStatuses: on(switches.messagesAndStatuses),
        contactsAndDealsCreation: on(switches.contactsAndDealsCreation),
        channelsUpdates: on(switches.channelsUpdates),
        templateStatus: on(switches.templateStatus ?? switches.wabaTemplatesStatus),
      },
    },
  };
}
