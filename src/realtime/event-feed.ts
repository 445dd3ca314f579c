/**
 * Where real-time clients' events come from: the outbox, read in sequence order whenever new
 * events may have been committed. This process's own commits say so on the bus, and when an
 * event is the next in sequence it is delivered from the bus without reading it back; on PostgreSQL,
 * every instance's commits say so by NOTIFY, so that an event committed by instance A reaches
 * operators connected to instance B; and a periodic read catches writers that can do neither
 * (the `backchat` CLI replaying webhooks on SQLite) and anything a dropped LISTEN connection missed.
 */
import type { EventBus } from '../events/in-process-bus.js';
import { latestOutboxSeq, readOutboxAfter, type PublishedEvent } from '../events/outbox.js';
import type { DatabaseHandle } from '../storage/database.js';

export interface EventFeed {
  /** Delivers every committed event, in sequence order, from now on; resolves to a stop function. */
  start(onEvent: (event: PublishedEvent) => void): Promise<() => Promise<void>>;
}

const READ_PAGE = 500;
const POLL_MS = 1000;

export function createEventFeed(deps: { database: DatabaseHandle; bus: EventBus; onError: (error: unknown) => void }): EventFeed {
  return {
    async start(onEvent) {
      let lastSeq = await latestOutboxSeq(deps.database.db);
      let reading: Promise<void> | undefined;
      let again = false;
      // One reader at a time; a wake-up during a read makes it read once more.
      const catchUp = (): void => {
        if (reading) {
          again = true;
          return;
        }
        reading = (async () => {
          do {
            again = false;
            for (;;) {
              const events = await readOutboxAfter(deps.database.db, lastSeq, READ_PAGE);
              for (const event of events) {
                lastSeq = event.seq;
                onEvent(event);
              }
              if (events.length < READ_PAGE) break;
            }
          } while (again);
        })()
          .catch(deps.onError)
          .finally(() => {
            reading = undefined;
          });
      };

      const unsubscribe = deps.bus.onAny((event) => {
        // Already read from the outbox (PostgreSQL's NOTIFY can come before the commit's reply).
        if (event.seq <= lastSeq) return;
        // This process's own commit, next in sequence: delivered as it is, not read back.
        if (!reading && event.seq === lastSeq + 1) {
          lastSeq = event.seq;
          onEvent(event);
        } else catchUp();
      });
      const listen = deps.database.listenForCommittedEvents;
      const stopListening = listen ? await listen(catchUp, deps.onError) : async () => undefined;
      const poll = setInterval(catchUp, POLL_MS);
      poll.unref();
      catchUp();
      return async () => {
        clearInterval(poll);
        unsubscribe();
        await stopListening();
        await reading;
      };
    },
  };
}
