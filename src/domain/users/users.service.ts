/**
 * Accounts and their tokens. Passwords are hashed with argon2id; tokens are random, shown once,
 * and stored only as SHA-256 hashes (a token has 256 bits of entropy, so a fast hash is enough
 * and lets every request be checked with one indexed lookup).
 */
import { createHash, randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { AppError, type FieldErrors } from '../../errors.js';
import type { Executor } from '../../storage/executor.js';
import { newId } from '../../storage/ids.js';
import {
  findToken,
  findTokenByHash,
  findUserById,
  findUserCredentials,
  insertToken,
  insertUserIfAbsent,
  listTokensOf,
  listUsers,
  lockUserCredentials,
  revokeToken,
  revokeTokensOf,
  touchToken,
  updateUser,
} from './users.repository.js';
import type { AuthToken, Role, User } from './users.types.js';

export const MIN_PASSWORD_LENGTH = 10;
/** Longer ones are refused at login, before argon2 spends time on them. */
export const MAX_PASSWORD_LENGTH = 1024;
export const MAX_NAME_LENGTH = 200;
export const MAX_EMAIL_LENGTH = 320;
export const EMAIL_PATTERN = '^[^@\\s]+@[^@\\s]+$';
const EMAIL = new RegExp(EMAIL_PATTERN);
/** last_used_at is written at most this often per token: a write per request would be waste. */
const TOUCH_INTERVAL_MS = 60_000;

// Verified against when the email is unknown, so that a login takes as long either way.
let dummyHash: Promise<string> | undefined;

const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
const newToken = () => `bc_${randomBytes(32).toString('base64url')}`;
export const normalizeEmail = (email: string) => email.trim().toLowerCase();

/**
 * An account's fields as stored (trimmed; the email lower-cased), each one that was given, or a
 * 400 naming every bad one. The API's schemas check the same limits; the CLI comes here directly,
 * and a name of nothing but spaces passes any schema.
 */
function accountFields(input: { email?: string; name?: string; password?: string | null }): { email?: string; name?: string } {
  // Counted in characters (code points), as the schemas' maxLength counts them: an emoji is one.
  const length = (text: string) => [...text].length;
  const errors: FieldErrors = {};
  const fields: { email?: string; name?: string } = {};
  if (input.email !== undefined) {
    const email = normalizeEmail(input.email);
    if (length(email) > MAX_EMAIL_LENGTH || !EMAIL.test(email)) errors.email = ['The email must be an address such as name@example.com.'];
    else fields.email = email;
  }
  if (input.name !== undefined) {
    const name = input.name.trim();
    if (name === '') errors.name = ['The name must not be blank.'];
    else if (length(name) > MAX_NAME_LENGTH) errors.name = [`The name must be at most ${MAX_NAME_LENGTH} characters.`];
    else fields.name = name;
  }
  if (input.password != null && length(input.password) < MIN_PASSWORD_LENGTH) {
    errors.password = [`The password must be at least ${MIN_PASSWORD_LENGTH} characters.`];
  } else if (input.password != null && length(input.password) > MAX_PASSWORD_LENGTH) {
    errors.password = [`The password must be at most ${MAX_PASSWORD_LENGTH} characters.`];
  }
  if (Object.keys(errors).length > 0) throw new AppError('bad_request', 400, 'Invalid request data', errors);
  return fields;
}

/** Creates an account; 409 when the email is taken. */
export async function createUser(
  db: Executor,
  input: { email: string; name: string; role: Role; password?: string | null },
  now: number,
): Promise<User> {
  const { email, name } = accountFields(input);
  const user = await insertUserIfAbsent(db, {
    id: newId(),
    email: email!,
    name: name!,
    role: input.role,
    password_hash: input.password ? await hash(input.password) : null,
    disabled_at: null,
    created_at: now,
    updated_at: now,
  });
  if (!user) throw new AppError('conflict', 409, 'A user with this email exists');
  return user;
}

/** A user whose password was just verified, and the hash it was verified against. */
export interface VerifiedLogin {
  user: User;
  passwordHash: string;
}

/**
 * Checks email and password (argon2: tens of milliseconds), outside any transaction; undefined
 * when either is wrong or the user is disabled. An unknown email takes as long as a wrong password.
 */
export async function verifyLogin(db: Executor, credentials: { email: string; password: string }): Promise<VerifiedLogin | undefined> {
  const found = await findUserCredentials(db, normalizeEmail(credentials.email));
  const passwordHash = found?.passwordHash ?? (await (dummyHash ??= hash(randomBytes(16).toString('hex'))));
  const matches = await verify(passwordHash, credentials.password).catch(() => false);
  if (!found || !found.passwordHash || !matches || found.user.disabledAt !== null) return undefined;
  return { user: found.user, passwordHash: found.passwordHash };
}

/**
 * Opens a session for a verified login, unless the password changed or the user was disabled
 * since it was verified: then undefined, as for a wrong password.
 */
export async function startSession(
  db: Executor,
  verified: VerifiedLogin,
  now: number,
  sessionTtlMs: number,
): Promise<{ token: string; user: User; expiresAt: number } | undefined> {
  const token = newToken();
  const expiresAt = now + sessionTtlMs;
  // Short, and after the slow verification: on SQLite a transaction holds the write lock that the
  // webhook intake waits for. The user's row is read again under a lock that changeUser's UPDATE
  // also needs, so the two take turns: a change committed first is seen here and refuses the
  // session; a session committed first is revoked by the change (see changeUser).
  return db.transaction().execute(async (trx) => {
    const current = await lockUserCredentials(trx, verified.user.id);
    if (!current || current.passwordHash !== verified.passwordHash || current.user.disabledAt !== null) return undefined;
    await insertToken(trx, {
      id: newId(),
      user_id: current.user.id,
      kind: 'session',
      name: null,
      token_hash: hashToken(token),
      created_at: now,
      expires_at: expiresAt,
      revoked_at: null,
      last_used_at: now,
    });
    return { token, user: current.user, expiresAt };
  });
}

/** Checks email and password; a session token on success, undefined otherwise. */
export async function login(
  db: Executor,
  credentials: { email: string; password: string },
  now: number,
  sessionTtlMs: number,
): Promise<{ token: string; user: User; expiresAt: number } | undefined> {
  const verified = await verifyLogin(db, credentials);
  return verified && startSession(db, verified, now, sessionTtlMs);
}

/**
 * A named, long-lived token for an integration; the token is returned once and never stored.
 * None for a disabled user: disabling revoked every token so that the account comes back, if
 * ever, without old credentials, and one made meanwhile would come back with it. The user is read
 * under the lock that changeUser's UPDATE needs, as in startSession: a disabling committed first
 * refuses the token, and a token committed first is revoked by the disabling.
 */
export async function createApiToken(
  db: Executor,
  userId: string,
  input: { name: string; expiresAt?: number | null },
  now: number,
): Promise<{ token: string; record: AuthToken }> {
  if (input.expiresAt != null && input.expiresAt <= now) {
    throw new AppError('bad_request', 400, 'Invalid request data', { expiresAt: ['The expiry must be in the future.'] });
  }
  const { name } = accountFields({ name: input.name });
  const token = newToken();
  const record = await db.transaction().execute(async (trx) => {
    const current = await lockUserCredentials(trx, userId);
    if (!current) throw new AppError('not_found', 404, 'No user with this id');
    if (current.user.disabledAt !== null) throw new AppError('conflict', 409, 'This user is disabled; enable it before giving it a token');
    return insertToken(trx, {
      id: newId(),
      user_id: userId,
      kind: 'api',
      name: name!,
      token_hash: hashToken(token),
      created_at: now,
      expires_at: input.expiresAt ?? null,
      revoked_at: null,
      last_used_at: null,
    });
  });
  return { token, record };
}

/** The user a bearer token stands for, if the token is valid, unexpired, unrevoked and its user enabled. */
export async function resolveToken(db: Executor, token: string, now: number): Promise<{ user: User; token: AuthToken } | undefined> {
  if (!token.startsWith('bc_')) return undefined;
  const found = await findTokenByHash(db, hashToken(token));
  if (!found) return undefined;
  const { token: record, user } = found;
  if (record.revokedAt !== null || (record.expiresAt !== null && record.expiresAt <= now) || user.disabledAt !== null) return undefined;
  if (record.lastUsedAt === null || now - record.lastUsedAt > TOUCH_INTERVAL_MS) await touchToken(db, record.id, now);
  return found;
}

export async function revokeAuthToken(db: Executor, tokenId: string, now: number): Promise<AuthToken | undefined> {
  const token = await findToken(db, tokenId);
  if (!token) return undefined;
  await revokeToken(db, tokenId, now);
  return findToken(db, tokenId);
}

export function getUser(db: Executor, id: string): Promise<User | undefined> {
  return findUserById(db, id);
}

export function allUsers(db: Executor): Promise<User[]> {
  return listUsers(db);
}

export function tokensOf(db: Executor, userId: string): Promise<AuthToken[]> {
  return listTokensOf(db, userId);
}

/**
 * Changes name, role, password or disabled state. Disabling revokes every token of the user (a
 * compromised account must not come back with its old sessions when re-enabled); a new password
 * ends every session.
 */
export async function changeUser(
  db: Executor,
  id: string,
  changes: { name?: string; role?: Role; password?: string; disabled?: boolean },
  now: number,
): Promise<User | undefined> {
  const { name } = accountFields({ name: changes.name, password: changes.password });
  const passwordHash = changes.password === undefined ? undefined : await hash(changes.password);
  // One transaction, the user's row first: its UPDATE waits for, or makes wait, a login that is
  // opening a session (startSession locks the row too). A login that committed first has its
  // session revoked below (a statement that starts after the login's commit, so sees it); one
  // that waited reads the new password or the disabling and opens none.
  return db.transaction().execute(async (trx) => {
    const user = await updateUser(trx, id, {
      ...(name !== undefined && { name }),
      ...(changes.role !== undefined && { role: changes.role }),
      ...(passwordHash !== undefined && { password_hash: passwordHash }),
      ...(changes.disabled !== undefined && { disabled_at: changes.disabled ? now : null }),
      updated_at: now,
    });
    if (changes.disabled === true) await revokeTokensOf(trx, id, 'all', now);
    else if (passwordHash !== undefined) await revokeTokensOf(trx, id, 'sessions', now);
    return user;
  });
}
