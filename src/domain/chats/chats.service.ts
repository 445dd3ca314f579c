import type { Executor } from '../../storage/executor.js';
import { findChatByKey, insertChatIfAbsent } from './chats.repository.js';
import type { Chat, ChatKey } from './chats.types.js';

/** Finds the chat for `key`, creating it (linked to the contact) on its first message. */
export async function ensureChat(
  trx: Executor,
  key: ChatKey,
  contactId: string | null,
  now: number,
): Promise<Chat> {
  const existing = await findChatByKey(trx, key);
  if (existing) return existing;
  const created = await insertChatIfAbsent(trx, { key, contactId, now });
  // Undefined only when another writer created it between our read and our insert.
  return created ?? (await findChatByKey(trx, key))!;
}
