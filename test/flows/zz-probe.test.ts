import { it, expect } from 'vitest';
import { createTestApp } from '../helpers/test-app.js';
import { testDialects } from '../helpers/test-database.js';
import { ADMIN_TOKEN, request, createUserAndLogin, deliver, seedMessage, chatIdOf } from '../helpers/operators.js';
it.each(testDialects)('probe %s', async (dialect) => {
  const t = await createTestApp(dialect, { env: { ADMIN_TOKEN } });
  const op = await createUserAndLogin(t);
  await deliver(t, seedMessage({ chatId: 'c1', name: 'Дмитрий Иванов', phone: '+7 701 111 11 11', text: 'Привет МИР' }));
  const id = await chatIdOf(t, 'c1');
  for (const q of ['Дмитрий', 'дмитрий', 'ДМИТРИЙ', 'Привет', 'привет', 'мир', '7011', '+7701']) {
    const r = await request(t, 'GET', `/api/chats?q=${encodeURIComponent(q)}`, { token: op.token });
    console.log(dialect, q, r.json().data.length);
  }
  console.log((await request(t, 'PATCH', `/api/chats/${id}`, { token: op.token, body: { assigneeId: '' } })).body);
  console.log((await request(t, 'PATCH', `/api/chats/${id}`, { token: op.token, body: { status: 'x' } })).body);
  console.log((await request(t, 'POST', `/api/users`, { token: ADMIN_TOKEN, body: { email: 'x', name: 'n', role: 'operator', password: 'short' } })).body);
  console.log((await request(t, 'POST', `/api/users`, { token: ADMIN_TOKEN, body: { email: 'x@y', name: 'n', role: 'operator', password: 'short' } })).body);
  console.log((await request(t, 'GET', `/api/chats?status=x`, { token: op.token })).body);
  console.log((await request(t, 'GET', `/api/chats?limit=1`, { token: op.token })).body);
  await request(t, 'PATCH', `/api/users/${op.user.id}`, { token: ADMIN_TOKEN, body: { disabled: true } });
  console.log('disabled', (await request(t, 'GET', `/api/me`, { token: op.token })).statusCode);
  await request(t, 'PATCH', `/api/users/${op.user.id}`, { token: ADMIN_TOKEN, body: { disabled: false } });
  console.log('reenabled', (await request(t, 'GET', `/api/me`, { token: op.token })).statusCode);
  console.log((await request(t, 'POST', `/api/chats/${id}/read`, { token: op.token, body: 'null' })).statusCode);
  console.log((await request(t, 'POST', `/api/chats/${id}/read`, { token: op.token })).statusCode);
  console.log((await request(t, 'POST', `/api/chats/${id}/read`, { token: op.token, body: { upToMessageId: 'nope' } })).body);
  expect(1).toBe(1);
  await t.close();
});
