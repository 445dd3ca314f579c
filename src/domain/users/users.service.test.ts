import { hash } from '@node-rs/argon2';
import { describe, expect, it } from 'vitest';
import { testDialects, useMigratedDatabase } from '../../../test/helpers/test-database.js';
import { revokeTokensOf, updateUser } from './users.repository.js';
import { changeUser, createUser, login, resolveToken, startSession, verifyLogin } from './users.service.js';

const HOUR_MS = 3_600_000;

describe.each(testDialects)('logins racing account changes (%s)', (dialect) => {
  const T = Date.parse('2026-01-05T09:00:00.000Z');
  const { db } = useMigratedDatabase(dialect);

  let n = 0;
  const newUser = async () => {
    n += 1;
    const email = `racer${n}@example.com`;
    const user = await createUser(db(), { email, name: `Racer ${n}`, role: 'operator', password: 'oldpassword1' }, T);
    return { user, credentials: { email, password: 'oldpassword1' } };
  };
  /** Sessions of the user that a request could still use now. */
  const liveSessions = async (userId: string) =>
    (await db().selectFrom('auth_tokens').select('id').where('user_id', '=', userId).where('kind', '=', 'session').where('revoked_at', 'is', null).execute())
      .length;

  it('opens a session for a verified login when nothing changed meanwhile', async () => {
    const { user, credentials } = await newUser();
    const verified = await verifyLogin(db(), credentials);
    expect(verified?.user.id).toBe(user.id);
    const session = await startSession(db(), verified!, T, HOUR_MS);
    expect(session?.user.id).toBe(user.id);
    expect((await resolveToken(db(), session!.token, T))?.user.id).toBe(user.id);
  });

  it('refuses a login whose password was verified just before a password change committed', async () => {
    const { user, credentials } = await newUser();
    const verified = await verifyLogin(db(), credentials);
    expect(verified).toBeDefined();
    await changeUser(db(), user.id, { password: 'newpassword2' }, T + 1);
    expect(await startSession(db(), verified!, T + 2, HOUR_MS)).toBeUndefined();
    expect(await liveSessions(user.id)).toBe(0);
    expect(await login(db(), credentials, T + 3, HOUR_MS)).toBeUndefined();
    expect(await login(db(), { ...credentials, password: 'newpassword2' }, T + 3, HOUR_MS)).toBeDefined();
  });

  it('refuses a login verified before a disable, and leaves nothing for a re-enable to revive', async () => {
    const { user, credentials } = await newUser();
    const verified = await verifyLogin(db(), credentials);
    await changeUser(db(), user.id, { disabled: true }, T + 1);
    expect(await startSession(db(), verified!, T + 2, HOUR_MS)).toBeUndefined();
    await changeUser(db(), user.id, { disabled: false }, T + 3);
    expect(await liveSessions(user.id)).toBe(0);
  });

  it('waits for a password change in progress, then refuses the login', async () => {
    const { user, credentials } = await newUser();
    const verified = await verifyLogin(db(), credentials);
    const newHash = await hash('newpassword2');
    let session: Promise<unknown> | undefined;
    // What changeUser does, held open while the login tries to open its session: the login must
    // wait for the change (a row lock on PostgreSQL, the write lock on SQLite), then see it.
    await db().transaction().execute(async (trx) => {
      await updateUser(trx, user.id, { password_hash: newHash, updated_at: T + 1 });
      await revokeTokensOf(trx, user.id, 'sessions', T + 1);
      session = startSession(db(), verified!, T + 2, HOUR_MS);
      // Long enough for an unlocked login to read the old hash, insert and commit.
      await new Promise((resolve) => setTimeout(resolve, 200));
    });
    expect(await session).toBeUndefined();
    expect(await liveSessions(user.id)).toBe(0);
  });

  it('a session committed before the password change is revoked by it', async () => {
    const { user, credentials } = await newUser();
    const session = await login(db(), credentials, T, HOUR_MS);
    expect(session).toBeDefined();
    await changeUser(db(), user.id, { password: 'newpassword2' }, T + 1);
    expect(await resolveToken(db(), session!.token, T + 2)).toBeUndefined();
    expect(await liveSessions(user.id)).toBe(0);
  });

  // The whole login path under real timing; whether a given run hits the race depends on the
  // machine, so the lock itself is pinned by 'waits for a password change in progress' above.
  it('many logins racing a password change leave no live session opened with the old password', async () => {
    const { user, credentials } = await newUser();
    const attempts = Array.from({ length: 8 }, (_, i) =>
      new Promise((resolve) => setTimeout(resolve, i * 3)).then(() => login(db(), credentials, T, HOUR_MS)),
    );
    const change = new Promise((resolve) => setTimeout(resolve, 10)).then(() => changeUser(db(), user.id, { password: 'newpassword2' }, T + 1));
    const sessions = await Promise.all(attempts);
    await change;
    for (const session of sessions) if (session) expect(await resolveToken(db(), session.token, T + 2)).toBeUndefined();
    expect(await liveSessions(user.id)).toBe(0);
  });
});
