/**
 * Summarises a V8 .cpuprofile (from `BENCH_CPU_PROF=<dir> npm run bench`) as text, so that the
 * costs can be compared between runs and quoted in docs/PERFORMANCE.md without a browser:
 *
 *   npx tsx bench/cpu-profile-summary.ts <file.cpuprofile> [top=25]
 *
 * Self time per function, self time per module (package or source file), and inclusive time of
 * the functions on the request path (a function counts once per sample however deep it recurses).
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Which package or source file a frame belongs to. */
function moduleOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native / V8 builtins)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const own = /\/(dist|src|bench)\/(.+)$/.exec(url);
  if (own) return `${own[1]}/${own[2]}`;
  return url;
}

/** The file a frame is in, short: `kysely/dist/esm/…/sqlite-driver.js`, `dist/app.js`, `node:events`. */
function fileOf(frame: CallFrame): string {
  const inPackage = /node_modules\/(.+)$/.exec(frame.url);
  if (inPackage) return inPackage[1]!;
  const own = /\/((?:dist|src|bench)\/.+)$/.exec(frame.url);
  if (own) return own[1]!;
  return frame.url.replace(/^node:internal\/.*/, 'node:internal');
}

/**
 * A coarse bucket for a leaf frame, to say what a request's time goes to. Native calls are
 * charged to the JavaScript function that made them, so the SQLite engine (and COMMIT with its
 * WAL writes and fsync) appears as the driver's executeQuery.
 */
function categoryOf(frame: CallFrame, callerFrame: CallFrame | undefined): string {
  const { url, functionName } = frame;
  if (functionName === '(idle)') return functionName;
  if (functionName === 'executeQuery' && /sqlite-driver/.test(url)) {
    return callerFrame?.functionName === 'commitTransaction'
      ? 'SQLite COMMIT (WAL write, fsync, checkpoints; native)'
      : 'SQLite statements (native, better-sqlite3)';
  }
  const module = moduleOf(frame);
  if (module === 'kysely') return 'Kysely (building, compiling, running queries; JS)';
  if (module === 'pg' || module === 'pg-protocol' || module === 'pg-pool') return 'pg driver (JS)';
  if (/^(fastify|find-my-way|@fastify\/|avvio|light-my-request|fast-json-stringify)/.test(module) || /^node:_http|^node:net/.test(module)) {
    return 'HTTP: Fastify and node:http (JS)';
  }
  if (/^(pino|sonic-boom|thread-stream|fast-redact|@pinojs\/)/.test(module)) return 'logging: pino (JS)';
  if (/^(secure-json-parse|ajv)$/.test(module)) return 'JSON parse + schema validation';
  if (module === 'uuid' || /randomFill/.test(functionName)) return 'ids: uuid v7';
  if (module === 'libphonenumber-js') return 'phone normalisation';
  if (isApplication(frame)) return 'application code (dist/)';
  if (functionName === '(garbage collector)') return 'garbage collector';
  if (functionName === '(program)') return '(program): V8/native not attributed to JS';
  if (/^(writev|writeBuffer|writeString|writeUtf8String|writeLatin1String)$/.test(functionName)) return 'socket/file writes (native)';
  if (module.startsWith('node:')) return 'Node.js internals (streams, timers, events)';
  return 'other (builtins, JSON.stringify, …)';
}

/** backchat's own code, compiled or not (and not a package's dist/). */
function isApplication(frame: CallFrame): boolean {
  return !frame.url.includes('/node_modules/') && /\/(dist|src)\//.test(frame.url);
}

function frameName(frame: CallFrame): string {
  const location = frame.url ? ` ${fileOf(frame)}:${frame.lineNumber + 1}` : '';
  return `${frame.functionName || '(anonymous)'}${location}`;
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: tsx bench/cpu-profile-summary.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const top = Number(topArg ?? 25);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const self = new Map<string, number>();
  const byCategory = new Map<string, number>();
  // Each sample charged to the innermost application frame on its stack: that function's own code
  // plus the library code it calls (Kysely, the driver…), minus nested application functions.
  const byAppFrame = new Map<string, number>();
  const driverByAppFrame = new Map<string, number>();
  const selfByModule = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  const add = (map: Map<string, number>, key: string, value: number) => map.set(key, (map.get(key) ?? 0) + value);

  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time before sample i; it is the best estimate of what sample i stands for.
    const delta = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    total += delta;
    const node = byId.get(id)!;
    add(self, frameName(node.callFrame), delta);
    add(selfByModule, moduleOf(node.callFrame), delta);
    const callerId = parent.get(id);
    add(byCategory, categoryOf(node.callFrame, callerId === undefined ? undefined : byId.get(callerId)!.callFrame), delta);
    const seen = new Set<string>();
    let app: string | undefined;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      const name = frameName(frame);
      if (app === undefined && isApplication(frame)) app = name;
      if (!seen.has(name)) {
        seen.add(name);
        add(inclusive, name, delta);
      }
    }
    add(byAppFrame, app ?? '(no application function on the stack)', delta);
    // Native database work (better-sqlite3 statements, COMMIT and its fsync) shows up as self
    // time of the driver's executeQuery, which calls into C++. After an await inside Kysely (its
    // transaction's begin/commit) no application frame is left, so name the driver's caller.
    if (node.callFrame.functionName === 'executeQuery' && /sqlite-driver/.test(node.callFrame.url)) {
      const caller = parent.get(id);
      add(driverByAppFrame, app ?? `(no application frame) ${caller === undefined ? '?' : frameName(byId.get(caller)!.callFrame)}`, delta);
    }
  });

  const idle = self.get('(idle)') ?? 0;
  const busy = total - idle;
  const pct = (ms: number, of: number) => `${((100 * ms) / of).toFixed(1).padStart(5)}%`;
  const print = (title: string, map: Map<string, number>, of: number, filter: (key: string) => boolean = () => true) => {
    console.log(`\n${title}`);
    [...map.entries()]
      .filter(([key]) => filter(key))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .forEach(([key, ms]) => console.log(`  ${pct(ms, of)}  ${ms.toFixed(0).padStart(7)} ms  ${key}`));
  };

  console.log(`${file}: ${(total / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy (${pct(busy, total).trim()}), ${(idle / 1000).toFixed(1)} s idle`);
  console.log('Percentages below are of busy time (everything but (idle)).');
  print('Self time by category', byCategory, busy, (key) => key !== '(idle)');
  print('Self time by module', selfByModule, busy, (key) => key !== '(idle)');
  print('Self time by function', self, busy, (key) => key !== '(idle)');
  print(
    'Inclusive time, application code (dist/, src/)',
    inclusive,
    busy,
    (key) => / (dist|src)\//.test(key),
  );
  print('Time by innermost application function (own code + library code it calls)', byAppFrame, busy);
  print('Native SQLite time (better-sqlite3 calls) by innermost application function', driverByAppFrame, busy);
  print('Inclusive time, everything', inclusive, busy, (key) => key !== '(root)' && key !== '(idle)');
}

main();
