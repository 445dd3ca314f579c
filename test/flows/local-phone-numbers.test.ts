/**
 * PHONE_DEFAULT_COUNTRY end to end, on each dialect: a number written the local way ("8 777 …" in
 * Kazakhstan) is stored under its E.164 form and found by an operator's search written that way;
 * without the setting such a number is refused, as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createUserAndLogin, deliver, expectError, ok, request, seedMessage, v3Message, type Json } from '../helpers/operators.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { testDialects } from '../helpers/test-database.js';

// Newer than the messages' times (their contact data would win otherwise).
const contactEvent = (phone: string, name: string) => ({ event: 'contact', data: { phone, name, timestamp: '2030-01-01T00:00:00Z' } });

describe.each(testDialects)('phone numbers written the local way (%s)', (dialect) => {
  describe('with PHONE_DEFAULT_COUNTRY=KZ', () => {
    let t: TestApp;
    let token: string;
    beforeAll(async () => {
      t = await createTestApp(dialect, { env: { ADMIN_TOKEN, PHONE_DEFAULT_COUNTRY: 'kz' } });
      token = (await createUserAndLogin(t, { name: 'Operator' })).token;
      await deliver(t, seedMessage({ chatId: 'aigerim', name: 'Aigerim', phone: '77771234567', text: 'Сәлем' }));
      await deliver(t, seedMessage({ chatId: 'bolat', name: 'Bolat', phone: '+7 701 555 44 33', text: 'hello' }));
    });
    afterAll(async () => {
      await t.close();
    });

    it('stores a local number under the E.164 form of the international one: the same contact', async () => {
      await deliver(t, contactEvent('8 (777) 123-45-67', 'Aigerim S.'));
      const contacts = ok(await request(t, 'GET', '/api/contacts', { token })).data as Json[];
      expect(contacts.map((c) => [c.phone, c.name]).sort()).toEqual([
        ['+77015554433', 'Bolat'],
        ['+77771234567', 'Aigerim S.'],
      ]);
    });

    // Read locally, 84 951… would be a Moscow number (8 495 …); Wazzup24 means Vietnam.
    it('reads the phones of Wazzup24 v3 bodies as international digits, never as local ones', async () => {
      await deliver(t, { messages: [v3Message({ chatId: '84951234567', name: 'Nguyen' })] });
      const contacts = ok(await request(t, 'GET', '/api/contacts?q=Nguyen', { token })).data as Json[];
      expect(contacts.map((c) => c.phone)).toEqual(['+84951234567']);
    });

    it('finds chats and contacts by a phone typed the local way, whole or in part', async () => {
      const chats = async (q: string) =>
        (ok(await request(t, 'GET', `/api/chats?q=${encodeURIComponent(q)}`, { token })).data as Json[]).map((c) => c.contact.name);
      expect(await chats('8 777 123 45 67')).toEqual(['Aigerim S.']);
      expect(await chats('8 (701) 555')).toEqual(['Bolat']);
      expect(await chats('+7 701 555')).toEqual(['Bolat']);
      expect(await chats('8 999 000 00')).toEqual([]);
      expect(await chats('84951234567')).toEqual(['Nguyen']);
      const contacts = ok(await request(t, 'GET', `/api/contacts?q=${encodeURIComponent('8 777 123')}`, { token })).data as Json[];
      expect(contacts.map((c) => c.name)).toEqual(['Aigerim S.']);
    });
  });

  describe('without it', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp(dialect, { env: { ADMIN_TOKEN } });
    });
    afterAll(async () => {
      await t.close();
    });

    it('refuses a number that is not international', async () => {
      const response = await request(t, 'POST', '/api/webhooks/wazzup24', { body: contactEvent('8 (777) 123-45-67', 'Aigerim') });
      expectError(response, 400, 'Invalid webhook data');
      expect(response.json().errors).toEqual({ 'data.phone': ['The data.phone field must be a valid phone number.'] });
    });
  });
});
