/**
 * `backchat wazzup register --url URL [--api-key KEY]`: points the Wazzup24 account at backchat
 * (PATCH /v3/webhooks) and says in plain words what Wazzup24 answered.
 */
import { parseArgs } from 'node:util';
import {
  API_TIMEOUT_MS,
  REGISTER_TIMEOUT_MS,
  DEFAULT_SUBSCRIPTIONS,
  errorCodeKey,
  MAX_WEBHOOK_URI_LENGTH,
  normalizeApiKey,
  readWebhookSettings,
  registerWebhook,
  type WebhookSubscriptions,
} from '../integrations/wazzup/wazzup-api.js';
import { cliConfig, CliError, type CliIo } from './cli-context.js';

export const WAZZUP_USAGE = `Usage:
  backchat wazzup register --url URL [--api-key KEY]   (or WAZZUP_API_KEY; WAZZUP_API_URL for another API host)
`;

export async function wazzupCommand(argv: string[], io: CliIo): Promise<void> {
  const [action, ...rest] = argv;
  const { values } = parseArgs({ args: rest, options: { url: { type: 'string' }, 'api-key': { type: 'string' } } });
  if (action !== 'register' || !values.url) throw new CliError(WAZZUP_USAGE);
  const config = cliConfig();
  const apiKey = normalizeApiKey(values['api-key'] ?? config.wazzupApiKey ?? '');
  if (!apiKey) throw new CliError('No API key: pass --api-key or set WAZZUP_API_KEY (Wazzup24: Integrations → API).');
  // fetch refuses such a header before sending anything; say what is wrong rather than "could not reach".
  if (!/^[\x21-\x7e]+$/.test(apiKey)) throw new CliError('The API key holds characters an API key cannot have (spaces or non-Latin letters): copy it again from Wazzup24.');

  const url = values.url;
  // What the command prints: the URL with its token hidden, since terminals and CI logs keep output.
  const shown = withoutSecrets(url);
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new CliError(`"${shown}" is not an http(s) URL.`);
  if (url.length > MAX_WEBHOOK_URI_LENGTH) {
    throw new CliError(`The URL is ${url.length} characters long; Wazzup24 accepts at most ${MAX_WEBHOOK_URI_LENGTH}, query string included.`);
  }

  const api = { apiUrl: config.wazzupApiUrl, apiKey };
  let result;
  try {
    result = await registerWebhook({ ...api, webhooksUri: url });
  } catch (error) {
    throw new CliError(`Could not reach Wazzup24 at ${config.wazzupApiUrl}: ${describeFailure(error, REGISTER_TIMEOUT_MS)}`);
  }
  if (!result.ok) throw new CliError(explain(result, shown));
  io.out.write(`Wazzup24 accepted the webhook URL (HTTP ${result.status}). It sent its test request to ${shown} and got 200.\n`);
  await confirmSettings(api, url, io);
}

/**
 * Reads the settings back, because an answer of 200 is not proof of what Wazzup24 keeps: a live
 * account has been seen naming a switch differently from the documentation.
 */
async function confirmSettings(api: { apiUrl: string; apiKey: string }, url: string, io: CliIo): Promise<void> {
  let read;
  try {
    read = await readWebhookSettings(api);
  } catch (error) {
    io.err.write(`Could not read the settings back (${describeFailure(error, API_TIMEOUT_MS)}): check them in Wazzup24.\n`);
    return;
  }
  if (!read.ok) {
    io.err.write(`Could not read the settings back (HTTP ${read.status}): check them in Wazzup24.\n`);
    return;
  }
  const { webhooksUri, subscriptions } = read.settings;
  if (webhooksUri !== url) {
    throw new CliError(`Wazzup24 accepted the URL but now reports ${webhooksUri === null ? 'no webhook URL' : withoutSecrets(webhooksUri)}: run the command again, or check in Wazzup24.`);
  }
  const names = (wanted: boolean) => (Object.keys(DEFAULT_SUBSCRIPTIONS) as (keyof WebhookSubscriptions)[]).filter((name) => subscriptions[name] === wanted);
  io.out.write(`Read back: webhooks go to ${withoutSecrets(webhooksUri)}; on: ${names(true).join(', ') || 'nothing'}; off: ${names(false).join(', ') || 'nothing'}.\n`);
  if (!subscriptions.messagesAndStatuses) {
    io.err.write('Wazzup24 reports messagesAndStatuses off: no messages will arrive. Run the command again, or switch it on in Wazzup24.\n');
  }
}

/**
 * The URL with the values of its query parameters (`?token=…`) and its password (`user:…@`)
 * hidden. Text no URL parser takes (a port out of range, say) is hidden the same way by pattern:
 * returned as it was, it printed the token in the very messages that said the URL was wrong (a
 * review's find).
 */
function withoutSecrets(url: string): string {
  const HIDDEN = 'backchat-hidden-value';
  try {
    const parsed = new URL(url);
    if (parsed.password === '' && parsed.search === '') return url;
    if (parsed.password !== '') parsed.password = HIDDEN;
    for (const key of new Set(parsed.searchParams.keys())) parsed.searchParams.set(key, HIDDEN);
    return parsed.toString().replaceAll(HIDDEN, '…');
  } catch {
    // The password runs to the last "@" before the path: it may hold "@" itself.
    return url.replace(/([?&][^=&#]*=)[^&#]*/g, '$1…').replace(/(\/\/[^/:@?#]*:)[^/?#]*@/, '$1…@');
  }
}

function explain(result: { status: number; error: string | null; description: string | null; data: unknown; body: string }, url: string): string {
  const said = `Wazzup24 answered HTTP ${result.status}${result.error ? ` ${result.error}` : ''}${result.description ? `: ${result.description}` : ''}.`;
  switch (result.error === null ? null : errorCodeKey(result.error)) {
    case 'TESTPOSTNOTPASSED': {
      const got = result.data && typeof result.data === 'object' ? Object.values(result.data as Record<string, unknown>).join(', ') || JSON.stringify(result.data) : 'something other than 200';
      return (
        `${said}\nWazzup24 sent a test request ({"test":true}) to ${url} and got ${got} instead of 200, so it kept the old URL.\n` +
        'Check that backchat is running and reachable at that URL from the internet, and that the token in the URL is one of WEBHOOK_TOKENS ' +
        '(or that the IP allowlist lets Wazzup24 in). `npx backchat events list --outcome rejected` shows what backchat refused.'
      );
    }
    case 'URINOTVALID':
      return `${said}\nWazzup24 does not take "${url}" as a URL. Use a full https:// address of at most ${MAX_WEBHOOK_URI_LENGTH} characters.`;
    default:
      if (result.status === 401) return `${said}\nThe API key was refused: check WAZZUP_API_KEY (Wazzup24: Integrations → API).`;
      if (result.status === 403) return `${said}\nThis API key may not change webhooks (a sidecar key?). Use the account's main API key.`;
      if (result.status === 429) return `${said}\nToo many requests: wait a few seconds and try again.`;
      return `${said}${result.body && !result.error ? `\n${result.body.slice(0, 500)}` : ''}`;
  }
}

/**
 * Why a request failed: fetch says only "fetch failed" and puts the reason (refused, no such host,
 * a TLS error, a timeout) in `cause`.
 */
function describeFailure(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (error.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  if (cause && typeof cause.message === 'string') return `${error.message} (${typeof cause.code === 'string' ? `${cause.code}: ` : ''}${cause.message})`;
  return error.message;
}
