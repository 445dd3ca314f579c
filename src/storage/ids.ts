import { v7 as uuidv7 } from 'uuid';

/** App-generated primary keys: UUIDv7 sorts by creation time, which keeps indexes and cursors simple. */
export function newId(): string {
  return uuidv7();
}
