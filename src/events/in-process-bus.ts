/**
 * The single-node event bus: listeners in this process hear every domain event after its commit.
 * A listener that throws is reported and does not stop the others, nor the request that caused it:
 * the change is already committed.
 */
import type { DomainEventMap, DomainEventName } from '../domain/domain-events.js';
import type { PublishedEvent } from './outbox.js';

export type Listener<K extends DomainEventName> = (payload: DomainEventMap[K]) => void;

export interface EventBus {
  publish(event: PublishedEvent): void;
  /** Subscribes to one event name; returns the unsubscribe function. */
  on<K extends DomainEventName>(name: K, listener: Listener<K>): () => void;
  /** Subscribes to every event; returns the unsubscribe function. */
  onAny(listener: (event: PublishedEvent) => void): () => void;
}

export function createInProcessBus(onListenerError: (error: unknown, event: PublishedEvent) => void): EventBus {
  const byName = new Map<DomainEventName, Set<(payload: unknown) => void>>();
  const any = new Set<(event: PublishedEvent) => void>();

  return {
    publish(event) {
      for (const listener of byName.get(event.type) ?? []) {
        try {
          listener(event.payload);
        } catch (error) {
          onListenerError(error, event);
        }
      }
      for (const listener of any) {
        try {
          listener(event);
        } catch (error) {
          onListenerError(error, event);
        }
      }
    },
    on(name, listener) {
      let set = byName.get(name);
      if (!set) byName.set(name, (set = new Set()));
      const wrapped = listener as (payload: unknown) => void;
      set.add(wrapped);
      return () => set.delete(wrapped);
    },
    onAny(listener) {
      any.add(listener);
      return () => any.delete(listener);
    },
  };
}
