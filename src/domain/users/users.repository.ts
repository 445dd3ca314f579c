import type { Selectable } from 'kysely';
import type { Executor } from '../../storage/executor.js';
import type { AuthTokensTable, UsersTable } from '../../storage/schema.js';
import type { AuthToken, Role, TokenKind, User } from './users.types.js';

function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role as Role,
    disabledAt: row.disabled_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toToken(row: Selectable<AuthTokensTable>): AuthToken {
  return {
    id: row.id,
    userId: row.user_id,
    kind: row.kind as TokenKind,
    name: row.name,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  };
}

/** Inserts a user unless the email is taken (then returns undefined). */
export async function insertUserIfAbsent(db: Executor, row: Selectable<UsersTable>): Promise<User | undefined> {
  const inserted = await db
    .insertInto('users')
    .values(row)
    .onConflict((oc) => oc.column('email').doNothing())
    .returningAll()
    .executeTakeFirst();
  return inserted && toUser(inserted);
}

export async function findUserById(db: Executor, id: string): Promise<User | undefined> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toUser(row);
}

/** The user and its password hash, for a login. */
export async function findUserCredentials(db: Executor, email: string): Promise<{ user: User; passwordHash: string | null } | undefined> {
  const row = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  return row && { user: toUser(row), passwordHash: row.password_hash };
}

/**
 * Inside a transaction: the user and its password hash, read under a lock that its UPDATE waits
 * for until the transaction ends (PostgreSQL: FOR SHARE, which, unlike the key-share lock that
 * a token's foreign key takes, conflicts with any update of the row; SQLite's transaction holds
 * the write lock already).
 */
export async function lockUserCredentials(db: Executor, id: string): Promise<{ user: User; passwordHash: string | null } | undefined> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', id).forShare().executeTakeFirst();
  return row && { user: toUser(row), passwordHash: row.password_hash };
}

export async function listUsers(db: Executor): Promise<User[]> {
  return (await db.selectFrom('users').selectAll().orderBy('email').execute()).map(toUser);
}

export async function updateUser(
  db: Executor,
  id: string,
  changes: Partial<Pick<UsersTable, 'name' | 'role' | 'password_hash' | 'disabled_at'>> & { updated_at: number },
): Promise<User | undefined> {
  const row = await db.updateTable('users').set(changes).where('id', '=', id).returningAll().executeTakeFirst();
  return row && toUser(row);
}

export async function insertToken(db: Executor, row: Selectable<AuthTokensTable>): Promise<AuthToken> {
  return toToken(await db.insertInto('auth_tokens').values(row).returningAll().executeTakeFirstOrThrow());
}

/** The token with this hash and its user, whatever their state (the caller decides). */
export async function findTokenByHash(db: Executor, tokenHash: string): Promise<{ token: AuthToken; user: User } | undefined> {
  const row = await db
    .selectFrom('auth_tokens')
    .innerJoin('users', 'users.id', 'auth_tokens.user_id')
    .selectAll('auth_tokens')
    .select([
      'users.email',
      'users.name as user_name',
      'users.role',
      'users.disabled_at',
      'users.created_at as user_created_at',
      'users.updated_at as user_updated_at',
    ])
    .where('auth_tokens.token_hash', '=', tokenHash)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    token: toToken(row),
    user: {
      id: row.user_id,
      email: row.email,
      name: row.user_name,
      role: row.role as Role,
      disabledAt: row.disabled_at,
      createdAt: row.user_created_at,
      updatedAt: row.user_updated_at,
    },
  };
}

export async function listTokensOf(db: Executor, userId: string): Promise<AuthToken[]> {
  return (await db.selectFrom('auth_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at', 'desc').execute()).map(toToken);
}

export async function findToken(db: Executor, id: string): Promise<AuthToken | undefined> {
  const row = await db.selectFrom('auth_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toToken(row);
}

export async function revokeToken(db: Executor, id: string, at: number): Promise<void> {
  await db.updateTable('auth_tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
}

export async function touchToken(db: Executor, id: string, at: number): Promise<void> {
  await db.updateTable('auth_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
}

/** Revokes a user's unrevoked tokens: sessions only, or every token. */
export async function revokeTokensOf(db: Executor, userId: string, kinds: 'sessions' | 'all', at: number): Promise<void> {
  let update = db.updateTable('auth_tokens').set({ revoked_at: at }).where('user_id', '=', userId).where('revoked_at', 'is', null);
  if (kinds === 'sessions') update = update.where('kind', '=', 'session');
  await update.execute();
}
