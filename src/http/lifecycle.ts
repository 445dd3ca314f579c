/**
 * Whether the server is shutting down. main.ts flips it before closing, so that readiness fails
 * and new requests get a 503 in the seed's envelope while those in flight finish.
 */
export interface Lifecycle {
  isShuttingDown(): boolean;
  beginShutdown(): void;
}

export function createLifecycle(): Lifecycle {
  let shuttingDown = false;
  return {
    isShuttingDown: () => shuttingDown,
    beginShutdown() {
      shuttingDown = true;
    },
  };
}
