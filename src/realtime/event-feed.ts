/**
 * Where real-time clients' events come from: this process's bus on SQLite (it is the only
 * writer), and on PostgreSQL the outbox, read whenever any instance's commit is announced by
 * NOTIFY, so that an event committed by instance A reaches operators connected to instance B.
 */
import type { EventBus } from '../events/in-process-bus.js';
import { latestOutboxSeq, readOutboxAfter, type PublishedEvent } from '../events/outbox.js';
import type { DatabaseHandle } from '../storage/database.js';

export interface EventFeed {
  /** Delivers every committed event, in sequence order, from now on; resolves to a stop function. */
  start(onEvent: (event: PublishedEvent) => void): Promise<() => Promise<void>>;
}

const READ_PAGE = 500;

export function createEventFeed(deps: { database: DatabaseHandle; bus: EventBus; onError: (error: unknown) => void }): EventFeed {
  return {
    async start(onEvent) {
      const listen = deps.database.listenForCommittedEvents;
      if (!listen) {
        const unsubscribe = deps.bus.onAny(onEvent);
        return async () => unsubscribe();
      }

      let lastSeq = await latestOutboxSeq(deps.database.db);
      let reading: Promise<void> | undefined;
      let again = false;
      // One reader at a time; a notification during a read makes it read once more.
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
      const stop = await listen(catchUp, deps.onError);
      catchUp();
      return async () => {
        await stop();
        await reading;
      };
    },
  };
}
