/**
 * The operators' search folds case the same way on both stores: text typed exactly as stored is
 * always found, and so is text typed in another case, whatever the letters (Turkish dotted İ, a
 * Greek final sigma), because both sides of the comparison are folded by the same SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createUserAndLogin, deliver, ok, request, seedMessage, type Json } from '../helpers/operators.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { testDialects } from '../helpers/test-database.js';

describe.each(testDialects)('inbox search across alphabets (%s)', (dialect) => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await createTestApp(dialect, { env: { ADMIN_TOKEN } });
    token = (await createUserAndLogin(t, { name: 'Operator' })).token;
    await deliver(t, seedMessage({ chatId: 'tr', name: 'İlker Yılmaz', phone: '+90 532 123 45 67', text: 'Merhaba' }));
    await deliver(t, seedMessage({ chatId: 'gr', name: 'ΟΔΥΣΣΕΑΣ', phone: '+30 691 234 5678', text: 'ΓΕΙΑ ΣΑΣ' }));
  });
  afterAll(async () => {
    await t.close();
  });

  const chats = async (q: string) => (ok(await request(t, 'GET', `/api/chats?q=${encodeURIComponent(q)}`, { token })).data as Json[]).map((c) => c.externalId);
  const contacts = async (q: string) => (ok(await request(t, 'GET', `/api/contacts?q=${encodeURIComponent(q)}`, { token })).data as Json[]).map((c) => c.name);

  it('finds a name or a message typed exactly as stored', async () => {
    expect(await chats('İlker')).toEqual(['tr']);
    expect(await contacts('İlker')).toEqual(['İlker Yılmaz']);
    expect(await chats('ΟΔΥΣΣΕΑΣ')).toEqual(['gr']);
    expect(await contacts('ΟΔΥΣΣΕΑΣ')).toEqual(['ΟΔΥΣΣΕΑΣ']);
    expect(await chats('ΓΕΙΑ ΣΑΣ')).toEqual(['gr']);
  });

  // Where JavaScript and PostgreSQL lower-case differently: "İ" (JavaScript keeps a dot above the
  // "i") and a final "Σ" (JavaScript "ς", PostgreSQL "σ").
  it('finds them in another case, the same on both stores', async () => {
    expect(await chats('yılmaz')).toEqual(['tr']);
    expect(await chats('MERHABA')).toEqual(['tr']);
    expect(await contacts('ilker')).toEqual(['İlker Yılmaz']);
    expect(await contacts('οδυσσεας')).toEqual(['ΟΔΥΣΣΕΑΣ']);
    expect(await chats('γεια σας')).toEqual(['gr']);
  });
});
