import BetterSqlite3 from 'better-sqlite3';
import { sql, type KyselyPlugin } from 'kysely';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { testDialects, useMigratedDatabase } from '../../../test/helpers/test-database.js';
import { newId } from '../../storage/ids.js';
import { CHAT_SCAN_WINDOW, listChats } from './chats.repository.js';
import type { ChatListQuery } from './chats.types.js';

describe.each(testDialects)('searching many chats (%s)', (dialect) => {
  const { db } = useMigratedDatabase(dialect);
  const T = Date.parse('2026-03-01T00:00:00.000Z');
  const TOTAL = 2 * CHAT_SCAN_WINDOW + 100;
  /** Chat `i` (0 the oldest activity); pairs share a time, so that windows end inside a tie. */
  const activityOf = (i: number) => T + Math.floor(i / 2) * 1000;
  /** The needles: a message's text in the oldest window, a contact's name in the middle one, both in the newest. */
  const textOf = (i: number) => (i === 0 || i === TOTAL - 1 ? 'where is my Parcel?' : `message ${i}`);
  const nameOf = (i: number) => (i === CHAT_SCAN_WINDOW + 3 || i === TOTAL - 1 ? 'PARCEL Service' : `Customer ${i}`);

  beforeAll(async () => {
    const contacts = [];
    const chats = [];
    const messages = [];
    for (let i = 0; i < TOTAL; i += 1) {
      const contact = { id: newId(), phone: `+7701${String(i).padStart(7, '0')}`, phone_raw: null, name: nameOf(i), created_at: T, updated_at: T };
      const chat = {
        id: newId(), channel_id: 'seed', chat_type: 'whatsapp', external_id: `chat-${i}`, contact_id: contact.id, status: i % 2 === 0 ? 'open' : 'closed',
        assignee_id: null, last_message_id: null, last_message_at: activityOf(i), last_activity_at: activityOf(i), unread_count: 0, created_at: T, updated_at: T,
      };
      contacts.push(contact);
      chats.push(chat);
      messages.push({
        id: newId(), external_id: `m-${i}`, chat_id: chat.id, contact_id: contact.id, direction: 'in', type: 'text', text: textOf(i),
        sent_at: activityOf(i), status_rank: 0, raw: '{}', created_at: T,
      });
    }
    for (const [table, rows] of [['contacts', contacts], ['chats', chats], ['messages', messages]] as const) {
      for (let start = 0; start < rows.length; start += 500) await db().insertInto(table).values(rows.slice(start, start + 500) as never).execute();
    }
  });

  const search = async (query: Partial<ChatListQuery>) => (await listChats(db(), { limit: 10, ...query })).map((chat) => chat.externalId);

  it('finds matches in every window, newest first, by message text and contact name, in any case', async () => {
    expect(await search({ q: 'parcel' })).toEqual([`chat-${TOTAL - 1}`, `chat-${CHAT_SCAN_WINDOW + 3}`, 'chat-0']);
    expect(await search({ q: 'parcel', status: 'open' })).toEqual(['chat-0']);
    expect(await search({ q: 'nothing like it' })).toEqual([]);
  });

  it('stops at the limit and pages on from the cursor', async () => {
    const [first, second] = await listChats(db(), { q: 'parcel', limit: 2 });
    expect([first!.externalId, second!.externalId]).toEqual([`chat-${TOTAL - 1}`, `chat-${CHAT_SCAN_WINDOW + 3}`]);
    expect(await search({ q: 'parcel', after: { lastActivityAt: second!.lastActivityAt, id: second!.id } })).toEqual(['chat-0']);
  });

  // One statement over every chat and message held the event loop: on SQLite no webhook was
  // served until it ended.
  it('lets the event loop turn while it searches (on SQLite, between windows)', async () => {
    let turns = 0;
    let searching = true;
    const count = () => {
      turns += 1;
      if (searching) setImmediate(count);
    };
    setImmediate(count);
    await search({ q: 'nothing like it' });
    searching = false;
    expect(turns).toBeGreaterThanOrEqual(Math.ceil(TOTAL / CHAT_SCAN_WINDOW) - 1);
  });

  // Lists of every length made statements of as many texts, each prepared and kept in the
  // connection's cache: 100 MB after a few hundred searches (a review's find).
  it.runIf(dialect === 'sqlite')('prepares one statement text for windows of any size', async () => {
    const prepare = vi.spyOn(BetterSqlite3.prototype, 'prepare');
    try {
      const all = await listChats(db(), { limit: TOTAL });
      // Cursors that leave last windows of 99, 59 and 19 chats.
      for (const left of [100, 60, 20]) {
        const cursor = all[all.length - left]!;
        // A filter no other test uses, so that none of its statements is prepared yet.
        await search({ q: 'parcel', unread: false, after: { lastActivityAt: cursor.lastActivityAt, id: cursor.id } });
      }
      const searches = new Set(prepare.mock.calls.map(([source]) => source).filter((source) => source.includes('from "messages"')));
      expect(searches.size).toBe(1);
    } finally {
      prepare.mockRestore();
    }
  });

  // A webhook may commit between a window's read and its search: a chat closed meanwhile was
  // returned by a search for open chats (a review's find).
  it.runIf(dialect === 'sqlite')('keeps to its filters when a chat changes between reading a window and searching it', async () => {
    const { rows } = await sql<{ file: string }>`pragma database_list`.execute(db());
    const oldest = (await db().selectFrom('chats').select('id').where('external_id', '=', 'chat-0').executeTakeFirstOrThrow()).id;
    const closeOldest = (status: string) => {
      const other = new BetterSqlite3(rows[0]!.file);
      other.prepare('update chats set status = ? where id = ?').run(status, oldest);
      other.close();
    };
    let closed = false;
    const betweenTheTwo: KyselyPlugin = {
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        // The window that holds the oldest chat has been read; its search comes next.
        if (!closed && args.result.rows.some((row) => row.id === oldest && !('external_id' in row))) {
          closed = true;
          closeOldest('closed');
        }
        return args.result;
      },
    };
    try {
      expect(await listChats(db().withPlugin(betweenTheTwo), { q: 'parcel', status: 'open', limit: 10 })).toEqual([]);
      expect(closed).toBe(true);
    } finally {
      closeOldest('open');
    }
  });
});
