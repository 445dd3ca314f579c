/**
 * The seed's body shape: `{"event": "message"|"status"|"contact", "data": {…}}`. The rules for
 * each event are written down in docs/API.md; change both together.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { parseIsoTime } from '../domain/iso-time.js';
import { ACCEPTED_STATUS_NAMES, toDeliveryStatus } from '../domain/messages/delivery-status.js';
import type { MessageFile } from '../domain/messages/messages.types.js';
import { normalizePhone, type PhoneCountry } from '../domain/phone.js';
import { addFieldError, type FieldErrors } from '../errors.js';
import { collectAjvErrors } from './field-errors.js';
import type { EventReading, IntakeEvent } from './intake-event.js';

export const SEED_EVENTS = ['message', 'status', 'contact'] as const;
export type SeedEventName = (typeof SEED_EVENTS)[number];

/** Message types whose content is a file: they need `file.url`. */
export const FILE_MESSAGE_TYPES = ['file', 'image', 'audio', 'video', 'document', 'voice', 'sticker'];

// Integers beyond 2^53 have already lost digits when parsed (two ids would become one): refused.
const id = { type: ['string', 'integer'], minLength: 1, maxLength: 255, minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER };
const optionalText = (maxLength: number) => ({ type: ['string', 'null'], maxLength });
const timestamp = { type: ['integer', 'number', 'string'] };

const envelopeSchema = {
  type: 'object',
  required: ['event', 'data'],
  properties: {
    event: { type: 'string', enum: SEED_EVENTS },
    data: { type: 'object' },
    signature: { type: 'string' },
  },
};

const messageSchema = {
  type: 'object',
  required: ['id', 'chatId', 'type', 'timestamp'],
  properties: {
    id,
    chatId: id,
    type: { type: 'string', minLength: 1, maxLength: 64 },
    text: optionalText(65_536),
    from: { type: 'string', minLength: 1, maxLength: 64 },
    timestamp,
    // null, as senders write an absent object (as for `file`): no contact, the sender is `from`.
    contact: {
      type: ['object', 'null'],
      properties: { name: optionalText(255), phone: { type: 'string', minLength: 1, maxLength: 64 } },
    },
    file: {
      type: ['object', 'null'],
      required: ['url'],
      properties: {
        url: { type: 'string', minLength: 1, maxLength: 4096 },
        name: optionalText(1024),
        size: { type: ['integer', 'null'], minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
        mimeType: optionalText(255),
      },
    },
  },
  allOf: [
    {
      if: { required: ['type'], properties: { type: { const: 'text' } } },
      then: { required: ['text'], properties: { text: { type: 'string', minLength: 1 } } },
    },
    {
      if: { required: ['type'], properties: { type: { enum: FILE_MESSAGE_TYPES } } },
      then: { required: ['file'], properties: { file: { type: 'object' } } },
    },
  ],
};

const statusSchema = {
  type: 'object',
  required: ['messageId', 'status', 'timestamp'],
  properties: {
    messageId: id,
    status: { type: 'string', enum: ACCEPTED_STATUS_NAMES },
    timestamp,
  },
};

const contactSchema = {
  type: 'object',
  required: ['phone'],
  properties: {
    phone: { type: 'string', minLength: 1, maxLength: 64 },
    name: optionalText(255),
    avatar: optionalText(4096),
    timestamp,
  },
};

const ajv = new Ajv({ allErrors: true, strict: false });
const validateEnvelope = ajv.compile(envelopeSchema);
const validateData: Record<SeedEventName, ValidateFunction> = {
  message: ajv.compile(messageSchema),
  status: ajv.compile(statusSchema),
  contact: ajv.compile(contactSchema),
};

export type SeedParseResult = { ok: true; event: IntakeEvent } | { ok: false; errors: FieldErrors };

/** Validates a seed body and normalises it; reports every problem at once. */
export function parseSeedBody(body: Record<string, unknown>, reading: EventReading): SeedParseResult {
  const errors: FieldErrors = {};
  if (!validateEnvelope(body)) collectAjvErrors(errors, validateEnvelope.errors);
  const event = body.event as SeedEventName;
  const data = body.data as Record<string, unknown>;
  if (errors.event || errors.data) return { ok: false, errors };

  const validate = validateData[event];
  if (!validate(data)) collectAjvErrors(errors, validate.errors, 'data');

  const normalized = normalize(event, data, reading, errors);
  if (Object.keys(errors).length > 0 || !normalized) return { ok: false, errors };
  return { ok: true, event: normalized };
}

/** Field-level checks that a schema cannot express, and the mapping to the internal event. */
function normalize(event: SeedEventName, data: Record<string, unknown>, reading: EventReading, errors: FieldErrors): IntakeEvent | undefined {
  const { receivedAt, phoneCountry } = reading;
  switch (event) {
    case 'message': {
      const contact = (data.contact ?? undefined) as { name?: string | null; phone?: string } | undefined;
      const phoneRaw = contact?.phone ?? (data.from as string | undefined);
      const phonePath = contact?.phone !== undefined ? 'data.contact.phone' : 'data.from';
      if (phoneRaw === undefined) {
        addFieldError(errors, 'data.from', 'The data.from field is required when data.contact.phone is not present.');
      }
      const phone = checkPhone(phoneRaw, phonePath, phoneCountry, errors);
      const sentAt = checkTimestamp(data.timestamp, 'data.timestamp', errors);
      if (Object.keys(errors).length > 0) return undefined;
      const file = data.file as Record<string, unknown> | null | undefined;
      return {
        kind: 'message',
        message: {
          externalId: String(data.id),
          chat: { channelId: '', chatType: '', externalId: String(data.chatId) },
          direction: 'in',
          type: data.type as string,
          text: (data.text as string | null | undefined) ?? null,
          sender: (data.from as string | undefined) ?? null,
          file: file ? toFile(file) : null,
          sentAt: sentAt!,
          contact: {
            phone: phone!,
            phoneRaw: phoneRaw!,
            externalKey: null,
            ...(contact && 'name' in contact ? { name: contact.name ?? null } : {}),
            occurredAt: sentAt!,
          },
          raw: data,
        },
      };
    }
    case 'status': {
      const occurredAt = checkTimestamp(data.timestamp, 'data.timestamp', errors);
      if (Object.keys(errors).length > 0) return undefined;
      return {
        kind: 'status',
        status: {
          messageExternalId: String(data.messageId),
          status: toDeliveryStatus(data.status as string)!,
          occurredAt: occurredAt!,
          error: data.error ?? null,
          raw: data,
        },
      };
    }
    case 'contact': {
      const phone = checkPhone(data.phone as string | undefined, 'data.phone', phoneCountry, errors);
      const occurredAt = data.timestamp === undefined ? receivedAt : checkTimestamp(data.timestamp, 'data.timestamp', errors);
      if (Object.keys(errors).length > 0) return undefined;
      return {
        kind: 'contact',
        contact: {
          phone: phone!,
          phoneRaw: data.phone as string,
          externalKey: null,
          ...('name' in data ? { name: (data.name as string | null) ?? null } : {}),
          ...('avatar' in data ? { avatarUrl: (data.avatar as string | null) ?? null } : {}),
          occurredAt: occurredAt!,
          raw: data,
        },
      };
    }
  }
}

function toFile(file: Record<string, unknown>): MessageFile {
  return {
    url: file.url as string,
    name: (file.name as string | null | undefined) ?? null,
    size: (file.size as number | null | undefined) ?? null,
    mimeType: (file.mimeType as string | null | undefined) ?? null,
  };
}

function checkPhone(raw: string | undefined, path: string, phoneCountry: PhoneCountry | null, errors: FieldErrors): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 64) return undefined; // the schema reported it
  const phone = normalizePhone(raw, phoneCountry);
  if (phone === null) addFieldError(errors, path, `The ${path} field must be a valid phone number.`);
  return phone ?? undefined;
}

/**
 * Seconds since the epoch (the seed's form), milliseconds (numbers from year 5138 on in seconds
 * are read as milliseconds instead), or an ISO-8601 string.
 */
export function checkTimestamp(value: unknown, path: string, errors: FieldErrors): number | undefined {
  let ms: number | undefined;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) {
    ms = Math.round(value < 1e11 ? value * 1000 : value);
  } else if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}[Tt ]/.test(value)) {
    const parsed = parseIsoTime(value);
    if (!Number.isNaN(parsed)) ms = parsed;
  }
  if (ms === undefined || ms > 8.64e15) {
    if (value !== undefined && !errors[path]) {
      addFieldError(errors, path, `The ${path} field must be a Unix timestamp (seconds) or an ISO-8601 date.`);
    }
    return undefined;
  }
  return ms;
}
