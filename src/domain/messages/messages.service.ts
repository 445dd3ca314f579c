import type { Executor } from '../../storage/executor.js';
import { newId } from '../../storage/ids.js';
import { recordMessageOnChat } from '../chats/chats.repository.js';
import { findContactById } from '../contacts/contacts.repository.js';
import { upsertContact } from '../contacts/contacts.service.js';
import type { Contact } from '../contacts/contacts.types.js';
import type { ChangeResult, DomainEvent } from '../domain-events.js';
import { statusRank, toDeliveryStatus, type DeliveryStatus } from './delivery-status.js';
import {
  addStatusError,
  advanceMessageStatus,
  findMessageById,
  findMessageAndStatuses,
  insertMessageIfAbsent,
  insertRevisionIfAbsent,
  insertStatusIfAbsent,
  reviseMessage,
  type StoredStatus,
} from './messages.repository.js';
import type { IncomingMessage, Message, MessageRevision, RevisionKind, StatusReport } from './messages.types.js';

/**
 * Stores a new message with its contact and chat, once per external id: a repeat changes nothing
 * and announces nothing. Statuses and revisions that arrived before the message (an `edited`
 * status, which carries no message) are applied to it now.
 * Runs inside the caller's transaction.
 */
export async function receiveMessage(
  trx: Executor,
  input: IncomingMessage,
  now: number,
  revised: { editedAt?: number; deletedAt?: number } = {},
): Promise<ChangeResult> {
  // Checked first so that a repeat does not touch the contact or the chat either.
  const { stored, statuses: early, revisions } = await findMessageAndStatuses(trx, input.externalId);
  if (stored) return { outcome: 'duplicate', events: [] };
  const lastRevision = (kind: RevisionKind, given: number | undefined) =>
    revisions.reduce<number | null>((latest, r) => (r.kind === kind && (latest === null || r.occurredAt > latest) ? r.occurredAt : latest), given ?? null);

  const events: DomainEvent[] = [];
  let contact: Contact | undefined;
  if (input.contact) {
    const upserted = await upsertContact(trx, input.contact, now);
    contact = upserted.contact;
    if (upserted.changed) events.push({ type: 'contact.updated', payload: { contact } });
  }
  const contactId = contact?.id ?? null;
  const messageId = newId();
  const chat = await recordMessageOnChat(trx, input.chat, {
    id: messageId,
    sentAt: input.sentAt,
    incoming: input.direction === 'in',
    contactId: input.groupChat ? null : contactId,
    now,
  });

  const best = highestStatus(early);
  const failure = early.find((s) => toDeliveryStatus(s.status) === 'failed');
  const message: Message = {
    id: messageId,
    externalId: input.externalId,
    chatId: chat.id,
    // Who wrote it: none for a group member known by name only, whatever the chat's contact.
    contactId,
    direction: input.direction,
    type: input.type,
    text: input.text,
    sender: input.sender,
    file: input.file,
    sentAt: input.sentAt,
    status: best?.status ?? null,
    statusAt: best?.occurredAt ?? null,
    failedAt: failure?.occurredAt ?? null,
    error: failure?.error ?? null,
    raw: input.raw,
    createdAt: now,
    authorName: input.authorName ?? null,
    authorId: input.authorId ?? null,
    quotedMessageId: input.quotedMessageId ?? null,
    editedAt: lastRevision('edited', revised.editedAt),
    deletedAt: lastRevision('deleted', revised.deletedAt),
  };
  if (!(await insertMessageIfAbsent(trx, message))) {
    // Unreachable while writers take turns (SQLite's write lock, PostgreSQL's writer lock): the
    // check above would have seen it. Were it reached, failing undoes the chat update; the group
    // committer then runs this unit again alone, and the check finds a duplicate.
    throw new Error(`message ${input.externalId} was stored by another writer during this transaction`);
  }

  events.push({ type: 'message.created', payload: { message } });
  events.push({
    type: 'chat.updated',
    payload: {
      chat,
      // The chat's own contact, which a group chat's other senders (or a new phone) do not replace.
      contact: contact?.id === chat.contactId ? contact : chat.contactId ? ((await findContactById(trx, chat.contactId)) ?? null) : null,
      // A late message does not become the last one: then the last one is read back.
      lastMessage: chat.lastMessageId === message.id ? message : await findLastMessage(trx, chat.lastMessageId),
    },
  });
  return { outcome: 'applied', events };
}

/**
 * Records a delivery status. It moves the message forward only (a late `delivered` never
 * overwrites `read`); a status for a message not yet stored is kept and applied on its arrival.
 * A status name we do not know is recorded and moves nothing.
 */
export async function receiveStatus(trx: Executor, report: StatusReport, now: number): Promise<ChangeResult> {
  const error = report.error === null || report.error === undefined ? null : JSON.stringify(report.error);
  const isNew = await insertStatusIfAbsent(trx, {
    messageExternalId: report.messageExternalId,
    status: report.status,
    occurredAt: report.occurredAt,
    receivedAt: now,
    error,
    raw: report.raw === null ? null : JSON.stringify(report.raw),
  });
  if (!isNew) {
    // The same status again, but with the error the first report lacked (an echo says "error",
    // the statuses that follow say which): kept, where it was dropped as a repeat.
    const withError = error === null ? undefined : await addStatusError(trx, report.messageExternalId, report.status, error);
    return withError ? { outcome: 'applied', events: [{ type: 'message.status_changed', payload: { message: withError } }] } : { outcome: 'duplicate', events: [] };
  }
  const known = toDeliveryStatus(report.status);
  if (!known) return { outcome: 'applied', events: [] };
  const message = await advanceMessageStatus(trx, report.messageExternalId, { status: known, at: report.occurredAt, error });
  return {
    outcome: 'applied',
    events: message ? [{ type: 'message.status_changed', payload: { message } }] : [],
  };
}

/**
 * Applies an edit or a deletion and keeps it in the message's history. When the original message
 * has not arrived, the revised message is stored in its place (and the original, if it comes
 * later, is a duplicate: the newer content wins).
 */
export async function receiveRevision(trx: Executor, revision: MessageRevision, now: number): Promise<ChangeResult> {
  const isNew = await insertRevisionIfAbsent(trx, {
    message_external_id: revision.messageExternalId,
    kind: revision.kind,
    old_text: revision.oldText,
    new_text: revision.newText,
    author_name: revision.authorName,
    author_id: revision.authorId,
    occurred_at: revision.occurredAt,
    received_at: now,
    fingerprint: revision.fingerprint,
    raw: JSON.stringify(revision.raw),
  });
  if (!isNew) return { outcome: 'duplicate', events: [] };

  const at = revision.occurredAt;
  if (!(await findMessageAndStatuses(trx, revision.messageExternalId)).stored) {
    // Nothing to store in its place: the edit is in the history, which the message joins when it comes.
    if (revision.message === null) return { outcome: 'applied', events: [] };
    if (revision.kind === 'edited') return receiveMessage(trx, revision.message, now, { editedAt: at });
    // A deletion carries no text, but its old text: kept, as on a message received, then deleted.
    return receiveMessage(trx, { ...revision.message, text: revision.message.text ?? revision.oldText }, now, { deletedAt: at });
  }
  const message =
    revision.kind === 'edited'
      ? await reviseMessage(trx, revision.messageExternalId, { kind: 'edited', text: revision.message === null ? undefined : revision.newText, at })
      : await reviseMessage(trx, revision.messageExternalId, { kind: 'deleted', at, oldText: revision.oldText });
  return { outcome: 'applied', events: message ? [{ type: 'message.updated', payload: { message } }] : [] };
}

async function findLastMessage(trx: Executor, id: string | null): Promise<Message | null> {
  return id === null ? null : ((await findMessageById(trx, id)) ?? null);
}

function highestStatus(statuses: StoredStatus[]): { status: DeliveryStatus; occurredAt: number } | undefined {
  let best: { status: DeliveryStatus; occurredAt: number } | undefined;
  for (const s of statuses) {
    const status = toDeliveryStatus(s.status);
    if (status && (!best || statusRank(status) > statusRank(best.status))) best = { status, occurredAt: s.occurredAt };
  }
  return best;
}
