/** A WebSocket client for tests: collects frames and waits for the ones a test expects. */
import WebSocket from 'ws';

export interface Frame {
  type: string;
  seq?: number;
  data?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface TestSocket {
  readonly socket: WebSocket;
  /** Every frame received so far, in order. */
  readonly frames: Frame[];
  /** Resolves with the first frame (counting those already received) that matches. */
  waitFor(match: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Resolves when the server closes the connection, with its close code. */
  closed: Promise<number>;
  close(): Promise<void>;
}

/** Opens `url` and resolves once it is open; rejects with the HTTP status if the upgrade is refused. */
export function openSocket(url: string, options: WebSocket.ClientOptions = {}): Promise<TestSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options);
    const frames: Frame[] = [];
    const waiters: { match: (frame: Frame) => boolean; resolve: (frame: Frame) => void }[] = [];
    let closeCode: number | null = null;
    const closed = new Promise<number>((done) =>
      socket.once('close', (code) => {
        closeCode = code;
        done(code);
      }),
    );
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      frames.push(frame);
      for (const waiter of [...waiters]) {
        if (waiter.match(frame)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(frame);
        }
      }
    });
    socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    socket.once('error', reject);
    socket.once('open', () =>
      resolve({
        socket,
        frames,
        closed,
        waitFor(match, timeoutMs = 5000) {
          const seen = frames.find(match);
          if (seen) return Promise.resolve(seen);
          return new Promise((found, fail) => {
            const timer = setTimeout(() => fail(new Error(`no matching frame within ${timeoutMs} ms${closeCode === null ? '' : ` (closed by the server: ${closeCode})`}; got ${JSON.stringify(frames.map((f) => f.type))}`)), timeoutMs);
            waiters.push({
              match,
              resolve: (frame) => {
                clearTimeout(timer);
                found(frame);
              },
            });
          });
        },
        async close() {
          if (socket.readyState === WebSocket.OPEN) socket.close();
          await closed;
        },
      }),
    );
  });
}
