/**
 * Native Wazzup24 API v3 bodies: `{"messages":[…],"statuses":[…]}` (together or apart, several items
 * each), `{"test":true}`, and `createContact` / `createDeal` / `channelsUpdates` / `templateStatus`.
 * Items are normalised into the same intake events as the seed format.
 *
 * Lenient where Wazzup24 is loose (nulls for absent fields, enum values its docs do not list yet,
 * the raw item kept whole); strict where it matters (an item without its `messageId` is reported
 * under its path and skipped, and the valid items of the same batch are still applied).
 */
import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import { stringify as stableStringify } from 'safe-stable-stringify';
import { parseIsoTime } from '../domain/iso-time.js';
import { storableText, truncatedText } from '../domain/storable-text.js';
import type { ContactUpdate } from '../domain/contacts/contacts.types.js';
import { toDeliveryStatus } from '../domain/messages/delivery-status.js';
import type { IncomingMessage } from '../domain/messages/messages.types.js';
import { normalizePhone } from '../domain/phone.js';
import type { FieldErrors } from '../errors.js';
import { collectAjvErrors } from './field-errors.js';
import type { EventReading, IntakeEvent } from './intake-event.js';

/** Top-level keys that mark a v3 body. */
const V3_KEYS = ['test', 'messages', 'statuses', 'createContact', 'createDeal', 'channelsUpdates', 'templateStatus'];

/** Messengers whose `chatId` is the customer's phone in international digits. */
const PHONE_CHAT_TYPES = new Set(['whatsapp', 'viber']);
/** Group chats: the `chatId` is the group's, and a message's `contact` is the member who wrote it. */
const GROUP_CHAT_TYPES = new Set(['whatsgroup', 'telegroup', 'maxgroup']);

const nullableString = (maxLength?: number) => ({ type: ['string', 'null'], ...(maxLength !== undefined && { maxLength }) });
/** Longest name (of a contact, a member, an author) kept; longer ones are cut. */
const MAX_DISPLAY_TEXT = 255;
/** Longest link (a file, an avatar) kept; a longer one is left out. */
const MAX_LINK = 4096;
const id = { type: 'string', minLength: 1, maxLength: 255 };
/** The bounds of an id that may come as text or as a number (kept as text). */
const stringOrInteger = { maxLength: 255, minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER };

/** Most items of a list (messages, statuses) in one body. */
const MAX_ITEMS = 1000;

const messageItem = {
  type: 'object',
  required: ['messageId', 'chatId'],
  properties: {
    messageId: id,
    chatId: { type: ['string', 'integer'], minLength: 1, ...stringOrInteger },
    channelId: nullableString(255),
    chatType: nullableString(64),
    dateTime: { type: ['string', 'number', 'null'] },
    type: nullableString(64),
    isEcho: { type: ['boolean', 'null'] },
    text: nullableString(65_536),
    // Display fields and links are not worth an item: over their length they are cut or left out
    // (displayText, linkOf), and the item's raw JSON keeps them whole.
    contentUri: nullableString(),
    status: nullableString(64),
    contact: {
      type: ['object', 'null'],
      properties: {
        name: nullableString(),
        avatarUri: nullableString(),
        username: nullableString(),
        phone: nullableString(64),
      },
    },
    authorName: nullableString(),
    // The CRM's own user id, which many CRMs number: kept as text.
    authorId: { type: ['string', 'integer', 'null'], ...stringOrInteger },
    quotedMessage: { type: ['object', 'null'] },
    isEdited: { type: ['boolean', 'null'] },
    isDeleted: { type: ['boolean', 'null'] },
    oldInfo: { type: ['object', 'null'], properties: { oldText: nullableString(65_536) } },
    error: { type: ['object', 'null'] },
  },
};

const statusItem = {
  type: 'object',
  required: ['messageId', 'status'],
  properties: {
    messageId: id,
    status: { type: 'string', minLength: 1, maxLength: 64 },
    timestamp: { type: ['string', 'number', 'null'] },
    error: { type: ['object', 'null'] },
  },
};

const bodySchema = {
  type: 'object',
  properties: {
    // Wazzup24 sends null rather than leaving an optional field out (reference notes, P11), at
    // the top level too: a null beside a batch must not refuse the batch.
    test: { type: ['boolean', 'string', 'null'] },
    messages: { type: ['array', 'null'], items: messageItem },
    statuses: { type: ['array', 'null'], items: statusItem },
    createContact: { type: ['object', 'null'] },
    createDeal: { type: ['object', 'null'] },
    channelsUpdates: { type: ['array', 'null'] },
    templateStatus: { type: ['object', 'null'] },
  },
};

const validate = new Ajv({ allErrors: true, strict: false }).compile(bodySchema);

export type V3ParseResult =
  | {
      ok: true;
      events: IntakeEvent[];
      /** What the body carries, for the webhook log: message, status, batch, test, create_contact, … */
      label: string;
      /** Items skipped for their errors, reported by path (`messages.3.messageId`). */
      itemErrors: FieldErrors;
    }
  | { ok: false; errors: FieldErrors };

/** True when the body has a v3 key (and no seed `event`). */
export function isWazzupV3Shaped(body: Record<string, unknown>): boolean {
  return V3_KEYS.some((key) => key in body);
}

export function parseWazzupV3Body(body: Record<string, unknown>, reading: EventReading): V3ParseResult {
  // Before the schema, which would look at every item of an over-long list only to say it is too
  // long: 256 KiB of empty objects is 87,000 items, and checking them all blocked the server for 1.5 s.
  const tooLong = (['messages', 'statuses'] as const).filter((key) => Array.isArray(body[key]) && (body[key] as unknown[]).length > MAX_ITEMS);
  if (tooLong.length > 0) {
    return { ok: false, errors: Object.fromEntries(tooLong.map((key) => [key, [`The ${key} field must not have more than ${MAX_ITEMS} items.`]])) };
  }
  const errors: FieldErrors = {};
  if (!validate(body)) collectAjvErrors(errors, validate.errors);

  // Errors inside an item skip that item only; anything else (a `messages` that is not an array)
  // makes the whole body invalid.
  const badItems = new Set<string>();
  for (const path of Object.keys(errors)) {
    const match = /^(messages|statuses)\.(\d+)(\.|$)/.exec(path);
    if (match) badItems.add(`${match[1]}.${match[2]}`);
    else return { ok: false, errors };
  }

  const messages = (Array.isArray(body.messages) ? body.messages : []) as Record<string, unknown>[];
  const statuses = (Array.isArray(body.statuses) ? body.statuses : []) as Record<string, unknown>[];
  const events: IntakeEvent[] = [];
  // Messages first, so that a status for a message of the same batch finds it.
  messages.forEach((item, i) => {
    if (!badItems.has(`messages.${i}`)) events.push(...messageEvents(item, reading));
  });
  statuses.forEach((item, i) => {
    if (!badItems.has(`statuses.${i}`)) events.push(statusEvent(item, reading.receivedAt));
  });

  const itemCount = messages.length + statuses.length;
  if (itemCount > 0 && badItems.size === itemCount) return { ok: false, errors };
  return { ok: true, events, label: labelOf(body, messages.length, statuses.length), itemErrors: errors };
}

function labelOf(body: Record<string, unknown>, messages: number, statuses: number): string {
  if (messages > 0 && statuses > 0) return 'batch';
  if (messages > 0) return 'message';
  if (statuses > 0) return 'status';
  if (body.test === true || body.test === 'true') return 'test';
  if (body.createContact != null) return 'create_contact';
  if (body.createDeal != null) return 'create_deal';
  if (body.channelsUpdates != null) return 'channels_update';
  if (body.templateStatus != null) return 'template_status';
  return 'empty';
}

function messageEvents(item: Record<string, unknown>, { receivedAt }: EventReading): IntakeEvent[] {
  const chatType = (item.chatType as string | null | undefined) ?? '';
  const chatId = String(item.chatId);
  const sentAt = toEpochMs(item.dateTime) ?? receivedAt;
  const contentUri = linkOf(item.contentUri) ?? null;
  const quoted = item.quotedMessage as Record<string, unknown> | null | undefined;
  const isEcho = item.isEcho === true;
  const member = GROUP_CHAT_TYPES.has(chatType) && !isEcho ? (item.contact as Record<string, unknown> | null | undefined) : undefined;
  const message: IncomingMessage = {
    externalId: item.messageId as string,
    chat: { channelId: (item.channelId as string | null | undefined) ?? '', chatType, externalId: chatId },
    direction: isEcho ? 'out' : 'in',
    type: (item.type as string | null | undefined) ?? 'unknown',
    text: (item.text as string | null | undefined) ?? null,
    // Who wrote it, where the chat's contact does not say: a group's member, as Wazzup24 names them.
    sender: displayText([member?.name, member?.phone, member?.username].find((value): value is string => typeof value === 'string' && value !== '')) ?? null,
    file: contentUri === null ? null : { url: contentUri, name: fileNameOf(contentUri), size: null, mimeType: null },
    sentAt,
    // An echo in a group is ours: its `contact` is no member who wrote.
    contact: GROUP_CHAT_TYPES.has(chatType) && isEcho ? null : contactOf(item, chatType, chatId, sentAt),
    groupChat: GROUP_CHAT_TYPES.has(chatType),
    raw: item,
    authorName: displayText(item.authorName) ?? null,
    authorId: item.authorId === null || item.authorId === undefined ? null : String(item.authorId),
    quotedMessageId: typeof quoted?.messageId === 'string' ? quoted.messageId : null,
  };

  // An outgoing message (echo) carries its delivery status, edited or deleted too; `inbound` is no
  // delivery status. The status goes first: kept as an early status, it is applied as the message
  // is stored, so that message.created and chat.updated show the message with it, as the REST API will.
  const status = item.status as string | null | undefined;
  const events: IntakeEvent[] = [];
  if (status && status !== 'inbound') {
    events.push({
      kind: 'status',
      status: { messageExternalId: message.externalId, status: toDeliveryStatus(status) ?? status, occurredAt: sentAt, error: item.error ?? null, raw: null },
    });
  }

  if (item.isEdited === true || item.isDeleted === true) {
    const oldInfo = item.oldInfo as Record<string, unknown> | null | undefined;
    events.push({
      kind: 'revision',
      revision: {
        messageExternalId: message.externalId,
        kind: item.isDeleted === true ? 'deleted' : 'edited',
        newText: item.isDeleted === true ? null : message.text,
        oldText: (oldInfo?.oldText as string | null | undefined) ?? null,
        authorName: message.authorName ?? null,
        authorId: message.authorId ?? null,
        occurredAt: sentAt,
        fingerprint: fingerprintOf(item),
        raw: item,
        message,
      },
    });
  } else events.push({ kind: 'message', message });
  return events;
}

/**
 * One edit, however it is written: resent with its keys in another order, or with a null added
 * or left out, it is the same edit and must count once in the message's history.
 */
function fingerprintOf(value: unknown): string {
  return createHash('sha256')
    .update(stableStringify(value, (_key, field: unknown) => (field === null ? undefined : field)) ?? '')
    .digest('hex');
}

function statusEvent(item: Record<string, unknown>, receivedAt: number): IntakeEvent {
  const status = item.status as string;
  const occurredAt = toEpochMs(item.timestamp) ?? receivedAt;
  if (status === 'edited') {
    // An outgoing message edited in the messenger app, not through Wazzup24: a change of content,
    // not of delivery, of which Wazzup24 tells neither the new text nor the old.
    return {
      kind: 'revision',
      revision: {
        messageExternalId: item.messageId as string,
        kind: 'edited',
        newText: null,
        oldText: null,
        authorName: null,
        authorId: null,
        occurredAt,
        // One edit is one time: the same status resent with its keys in another order, or with a
        // null added, is the same edit. (Without a time, only the same item is, however written.)
        fingerprint: fingerprintOf(item.timestamp == null ? item : ['edited status', item.timestamp]),
        raw: item,
        message: null,
      },
    };
  }
  return {
    kind: 'status',
    status: {
      messageExternalId: item.messageId as string,
      // Unknown names (future ones) are recorded as sent and move nothing.
      status: toDeliveryStatus(status) ?? status,
      occurredAt,
      error: item.error ?? null,
      raw: item,
    },
  };
}

/**
 * The customer behind a chat: found by phone when the messenger's chat id is one (WhatsApp,
 * Viber) or the contact carries one (Telegram, MAX); otherwise by `chatType:chatId`, which a
 * contact of a messenger without phone chat ids also keeps when it has a phone, so that messages
 * with and without the phone find the same contact.
 *
 * In a group, `chatType:chatId` is the group, not the member who wrote: keyed by it, every member
 * would become one contact, renamed by each message (and a member's phone would tie the group to
 * that member's own contact). A member is known by phone only; without one, no contact.
 */
function contactOf(item: Record<string, unknown>, chatType: string, chatId: string, occurredAt: number): ContactUpdate | null {
  const contact = item.contact as Record<string, string | null | undefined> | null | undefined;
  const group = GROUP_CHAT_TYPES.has(chatType);
  const phoneRaw = PHONE_CHAT_TYPES.has(chatType) ? chatId : (contact?.phone ?? null);
  // Wazzup24 writes phones as international digits: never read as local ones (PHONE_DEFAULT_COUNTRY),
  // which would turn a Vietnamese 84 951… into a Moscow number for a business in Russia.
  const phone = phoneRaw === null ? null : normalizePhone(phoneRaw);
  if (group && phone === null) return null;
  const avatarUrl = contact && 'avatarUri' in contact ? linkOf(contact.avatarUri) : undefined;
  return {
    phone,
    phoneRaw: phone === null ? null : phoneRaw,
    externalKey: phone !== null && (group || PHONE_CHAT_TYPES.has(chatType)) ? null : `${chatType}:${chatId}`,
    ...(contact && 'name' in contact && { name: displayText(contact.name) ?? null }),
    // A link too long to keep says nothing of the avatar held: it is left as it was.
    ...(avatarUrl !== undefined && { avatarUrl }),
    ...(contact && 'username' in contact && { username: displayText(contact.username) ?? null }),
    occurredAt,
  };
}

/** A name as kept: cut to MAX_DISPLAY_TEXT. */
function displayText(value: unknown): string | null | undefined {
  return typeof value === 'string' ? truncatedText(value, MAX_DISPLAY_TEXT) : (value as null | undefined);
}

/** A link as kept: undefined when longer than MAX_LINK (cut, it would lead nowhere). */
function linkOf(value: unknown): string | null | undefined {
  return typeof value === 'string' && value.length > MAX_LINK ? undefined : (value as string | null | undefined);
}

/**
 * Wazzup24's media links name the file in their query: `…/?filename=photo.jpg`. Decoded, `%00`
 * is a U+0000 that no JSON escape announced, which PostgreSQL refuses (a 500 for the whole body,
 * a review's find): made storable like the body's own text.
 */
function fileNameOf(uri: string): string | null {
  try {
    const name = new URL(uri).searchParams.get('filename');
    return name === null ? null : storableText(name);
  } catch {
    return null;
  }
}

/** Whole milliseconds within JavaScript's date range (what a bigint column and Date can hold), or undefined. */
function toEpochMs(value: unknown): number | undefined {
  let ms: number | undefined;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) ms = Math.round(value < 1e11 ? value * 1000 : value);
  else if (typeof value === 'string') ms = parseIsoTime(value);
  return ms !== undefined && ms >= 0 && ms <= 8.64e15 ? ms : undefined;
}
