/**
 * JSON schemas of the API's shapes: they document every route in /api/openapi.json, and Fastify
 * serialises responses with them (so a presenter field missing here would not reach clients:
 * the flow tests check the fields).
 */
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra });
const time = nullable('string', { format: 'date-time' });

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'The error envelope of every /api failure',
  properties: {
    status: { type: 'string', enum: ['error'] },
    message: { type: 'string' },
    errors: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } }, description: 'Field path → messages' },
    code: { type: ['integer', 'string'] },
  },
  required: ['status', 'message'],
};

export const contactSchema = {
  $id: 'Contact',
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: nullable('string'),
    phone: nullable('string', { description: 'E.164' }),
    username: nullable('string'),
    avatarUrl: nullable('string'),
    createdAt: time,
    updatedAt: time,
  },
};

export const messageSchema = {
  $id: 'Message',
  type: 'object',
  properties: {
    id: { type: 'string' },
    chatId: { type: 'string' },
    externalId: { type: 'string', description: "The sender's message id" },
    direction: { type: 'string', enum: ['in', 'out'] },
    type: { type: 'string' },
    text: nullable('string'),
    file: nullable('object', {
      properties: { url: { type: 'string' }, name: nullable('string'), size: nullable('integer'), mimeType: nullable('string') },
    }),
    sender: nullable('string', { description: "Who wrote it, as the event says: the seed's `from`; in a Wazzup24 group chat, the member's name (or phone, or username)" }),
    author: nullable('object', { properties: { id: nullable('string'), name: nullable('string') } }),
    quotedMessageId: nullable('string', { description: 'The `externalId` (the sender\'s id) of the message this one quotes, which may not be stored' }),
    status: nullable('string', { description: 'pending, sent, failed, delivered, read' }),
    statusAt: time,
    failedAt: time,
    error: {},
    sentAt: time,
    createdAt: time,
    editedAt: time,
    deletedAt: time,
  },
};

export const chatSchema = {
  $id: 'Chat',
  type: 'object',
  properties: {
    id: { type: 'string' },
    channelId: { type: 'string' },
    chatType: { type: 'string' },
    externalId: { type: 'string' },
    status: { type: 'string', enum: ['open', 'closed'] },
    assigneeId: nullable('string'),
    unreadCount: { type: 'integer' },
    lastActivityAt: time,
    createdAt: time,
    updatedAt: time,
    contact: { anyOf: [{ $ref: 'Contact#' }, { type: 'null' }] },
    lastMessage: { anyOf: [{ $ref: 'Message#' }, { type: 'null' }] },
  },
};

export const userSchema = {
  $id: 'User',
  type: 'object',
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string', enum: ['admin', 'operator'] },
    disabled: { type: 'boolean' },
    createdAt: time,
    updatedAt: time,
  },
};

export const tokenSchema = {
  $id: 'Token',
  type: 'object',
  properties: {
    id: { type: 'string' },
    userId: { type: 'string' },
    kind: { type: 'string', enum: ['session', 'api'] },
    name: nullable('string'),
    createdAt: time,
    expiresAt: time,
    revokedAt: time,
    lastUsedAt: time,
  },
};

export const revisionSchema = {
  $id: 'Revision',
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: ['edited', 'deleted'] },
    oldText: nullable('string', { description: 'The text before, as the sender reports it' }),
    newText: nullable('string', { description: 'The text after an edit; null for a deletion' }),
    author: nullable('object', { properties: { id: nullable('string'), name: nullable('string') } }),
    occurredAt: { type: 'string', format: 'date-time', description: 'When the sender says it happened' },
    receivedAt: { type: 'string', format: 'date-time' },
  },
};

export const SHARED_SCHEMAS = [errorSchema, contactSchema, messageSchema, revisionSchema, chatSchema, userSchema, tokenSchema];

/** `{"data":[…],"nextCursor":…}` of `ref` items. */
export const pageOf = (ref: string) => ({
  type: 'object',
  properties: { data: { type: 'array', items: { $ref: `${ref}#` } }, nextCursor: nullable('string') },
});

/** The error responses a protected route can give. */
export const authErrors = {
  401: { $ref: 'Error#' },
  403: { $ref: 'Error#' },
};

export const bearerSecurity = [{ bearer: [] }];

/** `:id` path parameters. */
export const idParam = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] };
