/**
 * `backchat users create|list` and `backchat tokens create`: accounts from a terminal, for the
 * first admin and for scripts. Passwords come from BACKCHAT_PASSWORD or a prompt, never from the
 * command line (which other users of the machine can read).
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { allUsers, createApiToken, createUser, MIN_PASSWORD_LENGTH, normalizeEmail } from '../domain/users/users.service.js';
import { ROLES, type Role } from '../domain/users/users.types.js';
import { openDatabase } from '../storage/database.js';
import { cliConfig, CliError, openingStore, requireMigratedStore, type CliIo } from './cli-context.js';

export const USERS_USAGE = `Usage:
  backchat users create --email E --name N [--role admin|operator] [--no-password]   (password: BACKCHAT_PASSWORD or a prompt)
  backchat users list
  backchat tokens create --email E --name TOKEN_NAME                                 (prints the token once)
`;

export async function usersCommand(command: 'users' | 'tokens', argv: string[], io: CliIo): Promise<void> {
  const [action, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: { email: { type: 'string' }, name: { type: 'string' }, role: { type: 'string', default: 'operator' }, 'no-password': { type: 'boolean', default: false } },
  });
  const known = (command === 'users' && (action === 'list' || action === 'create')) || (command === 'tokens' && action === 'create');
  if (!known) throw new CliError(USERS_USAGE);
  const config = cliConfig();
  await requireMigratedStore(config);
  const database = await openingStore(() => openDatabase(config.databaseUrl));
  try {
    const db = database.db;
    if (command === 'users' && action === 'list') {
      for (const user of await allUsers(db)) {
        io.out.write(`${user.id}  ${user.email}  ${user.role}${user.disabledAt ? '  (disabled)' : ''}  ${user.name}\n`);
      }
      return;
    }
    if (command === 'users' && action === 'create') {
      if (!values.email || !values.name) throw new CliError(`--email and --name are needed.\n\n${USERS_USAGE}`);
      if (!ROLES.includes(values.role as Role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}`);
      const password = values['no-password'] ? null : await readPassword(io);
      const user = await createUser(db, { email: values.email, name: values.name, role: values.role as Role, password }, Date.now());
      io.out.write(`Created ${user.role} ${user.email} (${user.id}).\n`);
      return;
    }
    if (command === 'tokens' && action === 'create') {
      if (!values.email || !values.name) throw new CliError(`--email and --name are needed.\n\n${USERS_USAGE}`);
      const user = (await allUsers(db)).find((u) => u.email === normalizeEmail(values.email!));
      if (!user) throw new CliError(`No user with email ${values.email}`);
      const { token } = await createApiToken(db, user.id, { name: values.name }, Date.now());
      io.out.write(`${token}\n`);
      io.err.write('This token is shown once; backchat keeps only its hash.\n');
    }
  } finally {
    await database.close();
  }
}

/** BACKCHAT_PASSWORD, else a prompt on the terminal (not echoed), else the first line of stdin. */
async function readPassword(io: CliIo): Promise<string> {
  const fromEnv = process.env.BACKCHAT_PASSWORD;
  if (fromEnv) return check(fromEnv);
  const interactive = process.stdin.isTTY === true;
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) io.err.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: interactive });
  try {
    const ask = (question: string) =>
      new Promise<string>((resolve, reject) => {
        rl.question(question, resolve);
        muted = interactive;
        rl.once('close', () => reject(new CliError('No password given: set BACKCHAT_PASSWORD or type one.')));
      });
    const password = await ask('Password: ');
    muted = false;
    if (interactive) {
      io.err.write('\n');
      const again = await ask('Again: ');
      muted = false;
      io.err.write('\n');
      if (again !== password) throw new CliError('The passwords differ.');
    }
    return check(password);
  } finally {
    rl.close();
  }
}

function check(password: string): string {
  if (password.length < MIN_PASSWORD_LENGTH) throw new CliError(`The password must be at least ${MIN_PASSWORD_LENGTH} characters.`);
  return password;
}
