/**
 * The operator API over chats, their messages and contacts. Routes validate, call the inbox
 * service, and present; lists answer `{"data":[…],"nextCursor":…}`.
 */
import type { FastifyInstance } from 'fastify';
import { CHAT_STATUSES, type ChatStatus } from '../domain/chats/chats.types.js';
import type { InboxService } from '../domain/inbox/inbox.service.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { currentUser, type OperatorAuth } from './operator-auth.js';
import { presentChat, presentContact, presentMessage, presentRevision } from './presenters/inbox.presenter.js';
import { authErrors, bearerSecurity, idParam, pageOf } from './schemas.js';
import { createSearchGate } from './search-gate.js';

const notFound = { 404: { $ref: 'Error#' } };
/** Its query or path refused (an unknown parameter, a limit out of range, a cursor not ours). */
const badRequest = { 400: { $ref: 'Error#' } };
const limit = { type: 'integer', minimum: 1, maximum: 200, default: 50 };
/** A search (`q`) refused while too many run or wait (search-gate.ts). */
const tooManySearches = { 429: { $ref: 'Error#' } };

export async function inboxRoutes(app: FastifyInstance, options: { inbox: InboxService; auth: OperatorAuth }): Promise<void> {
  const { inbox } = options;
  const searches = createSearchGate();
  app.addHook('onRequest', options.auth.require('operator'));

  app.get(
    '/api/chats',
    {
      schema: {
        tags: ['chats'],
        summary: 'List chats, newest activity first',
        security: bearerSecurity,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...CHAT_STATUSES] },
            assignee: { type: 'string', maxLength: 64, description: '`me`, `none` or a user id' },
            unread: { type: 'boolean' },
            q: { type: 'string', minLength: 1, maxLength: 200, description: 'Search in contact name, phone and message text' },
            limit,
            cursor: {
              type: 'string',
              maxLength: 500,
              description:
                "The previous page's nextCursor. A chat that gets a message while you page moves to the top of the list and is not returned in this pass: its chat.updated push (GET /api/ws) or a reload of the first page shows it",
            },
          },
        },
        response: { 200: pageOf('Chat'), ...badRequest, ...authErrors, ...tooManySearches },
      },
    },
    async (request, reply) => {
      const query = request.query as { status?: ChatStatus; assignee?: string; unread?: boolean; q?: string; limit: number; cursor?: string };
      const after = query.cursor ? decodeCursor<[number, string]>(query.cursor, ['number', 'string']) : undefined;
      const assignee = query.assignee === 'me' ? currentUser(request).id : query.assignee;
      const list = () =>
        inbox.listChats({
          ...(query.status && { status: query.status }),
          ...(assignee && { assignee }),
          ...(query.unread !== undefined && { unread: query.unread }),
          ...(query.q && { q: query.q }),
          ...(after && { after: { lastActivityAt: after[0], id: after[1] } }),
          limit: query.limit,
        });
      const page = query.q ? await searches(currentUser(request).id, reply, list) : await list();
      const last = page.chats.at(-1)?.chat;
      return { data: page.chats.map(presentChat), nextCursor: page.hasMore && last ? encodeCursor([last.lastActivityAt, last.id]) : null };
    },
  );

  app.get(
    '/api/chats/:id',
    { schema: { tags: ['chats'], summary: 'One chat', security: bearerSecurity, params: idParam, response: { 200: { $ref: 'Chat#' }, ...badRequest, ...authErrors, ...notFound } } },
    async (request) => presentChat(await inbox.getChat((request.params as { id: string }).id)),
  );

  app.patch(
    '/api/chats/:id',
    {
      schema: {
        tags: ['chats'],
        summary: 'Assign, unassign, open or close a chat',
        security: bearerSecurity,
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { status: { type: 'string', enum: [...CHAT_STATUSES] }, assigneeId: { type: ['string', 'null'], minLength: 1, maxLength: 64 } },
        },
        response: { 200: { $ref: 'Chat#' }, ...badRequest, ...authErrors, ...notFound },
      },
    },
    async (request) => {
      const body = request.body as { status?: ChatStatus; assigneeId?: string | null };
      return presentChat(await inbox.updateChat((request.params as { id: string }).id, body));
    },
  );

  app.post(
    '/api/chats/:id/read',
    {
      schema: {
        tags: ['chats'],
        summary: 'Mark a chat read, up to a message or entirely',
        security: bearerSecurity,
        params: idParam,
        body: { type: ['object', 'null'], additionalProperties: false, properties: { upToMessageId: { type: 'string', maxLength: 64 } } },
        response: { 200: { $ref: 'Chat#' }, ...badRequest, ...authErrors, ...notFound },
      },
    },
    async (request) => {
      const body = (request.body ?? {}) as { upToMessageId?: string };
      return presentChat(await inbox.markRead((request.params as { id: string }).id, body.upToMessageId));
    },
  );

  app.get(
    '/api/chats/:id/messages',
    {
      schema: {
        tags: ['chats'],
        summary: "A chat's messages, newest first",
        security: bearerSecurity,
        params: idParam,
        querystring: { type: 'object', additionalProperties: false, properties: { limit, cursor: { type: 'string', maxLength: 500 } } },
        response: { 200: pageOf('Message'), ...badRequest, ...authErrors, ...notFound },
      },
    },
    async (request) => {
      const query = request.query as { limit: number; cursor?: string };
      const after = query.cursor ? decodeCursor<[number, string]>(query.cursor, ['number', 'string']) : undefined;
      const page = await inbox.listMessages((request.params as { id: string }).id, {
        ...(after && { after: { sentAt: after[0], id: after[1] } }),
        limit: query.limit,
      });
      const last = page.messages.at(-1);
      return { data: page.messages.map(presentMessage), nextCursor: page.hasMore && last ? encodeCursor([last.sentAt, last.id]) : null };
    },
  );

  app.get(
    '/api/messages/:id/revisions',
    {
      schema: {
        tags: ['chats'],
        summary: "A message's edits and deletions, oldest first (its editedAt or deletedAt says it has some)",
        security: bearerSecurity,
        params: idParam,
        querystring: { type: 'object', additionalProperties: false, properties: { limit, cursor: { type: 'string', maxLength: 500 } } },
        response: { 200: pageOf('Revision'), ...badRequest, ...authErrors, ...notFound },
      },
    },
    async (request) => {
      const query = request.query as { limit: number; cursor?: string };
      const after = query.cursor ? decodeCursor<[number, string]>(query.cursor, ['number', 'string']) : undefined;
      const page = await inbox.listRevisions((request.params as { id: string }).id, {
        ...(after && { after: { occurredAt: after[0], id: after[1] } }),
        limit: query.limit,
      });
      const last = page.revisions.at(-1);
      return { data: page.revisions.map(presentRevision), nextCursor: page.hasMore && last ? encodeCursor([last.occurredAt, last.id]) : null };
    },
  );

  app.get(
    '/api/contacts',
    {
      schema: {
        tags: ['contacts'],
        summary: 'List contacts, newest first',
        security: bearerSecurity,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { q: { type: 'string', minLength: 1, maxLength: 200 }, limit, cursor: { type: 'string', maxLength: 500 } },
        },
        response: { 200: pageOf('Contact'), ...badRequest, ...authErrors, ...tooManySearches },
      },
    },
    async (request, reply) => {
      const query = request.query as { q?: string; limit: number; cursor?: string };
      const after = query.cursor ? decodeCursor<[string]>(query.cursor, ['string']) : undefined;
      const list = () => inbox.listContacts({ ...(query.q && { q: query.q }), ...(after && { afterId: after[0] }), limit: query.limit });
      const page = query.q ? await searches(currentUser(request).id, reply, list) : await list();
      const last = page.contacts.at(-1);
      return { data: page.contacts.map(presentContact), nextCursor: page.hasMore && last ? encodeCursor([last.id]) : null };
    },
  );

  app.get(
    '/api/contacts/:id',
    {
      schema: {
        tags: ['contacts'],
        summary: 'One contact with its chats',
        security: bearerSecurity,
        params: idParam,
        response: {
          200: { allOf: [{ $ref: 'Contact#' }, { type: 'object', properties: { chats: { type: 'array', items: { $ref: 'Chat#' } } } }] },
          ...badRequest,
          ...authErrors,
          ...notFound,
        },
      },
    },
    async (request) => {
      const { contact, chats } = await inbox.getContact((request.params as { id: string }).id);
      return { ...presentContact(contact), chats: chats.map(presentChat) };
    },
  );
}
