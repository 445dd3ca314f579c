/**
 * Delivery statuses only move forward. The rank orders them; `failed` sits between `sent` and
 * `delivered` because a failure after a delivery or a read is news about a retry, not about the
 * message the customer already has (WhatsApp reports it that way).
 */

export const DELIVERY_STATUSES = ['pending', 'sent', 'failed', 'delivered', 'read'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

const RANK: Record<DeliveryStatus, number> = { pending: 1, sent: 2, failed: 3, delivered: 4, read: 5 };

/**
 * Status names as senders spell them; Wazzup24 says `error` for a failure. A Map, not an object:
 * a sender's name such as `toString` or `__proto__` must not find an inherited property.
 */
const ALIASES = new Map<string, DeliveryStatus>([
  ['pending', 'pending'],
  ['sent', 'sent'],
  ['delivered', 'delivered'],
  ['read', 'read'],
  ['failed', 'failed'],
  ['error', 'failed'],
]);

export const ACCEPTED_STATUS_NAMES = [...ALIASES.keys()];

/** Maps a sender's status name to ours, or undefined for a name we do not know. */
export function toDeliveryStatus(name: string): DeliveryStatus | undefined {
  return ALIASES.get(name);
}

/** Higher is further along; 0 means no status yet. */
export function statusRank(status: DeliveryStatus): number {
  return RANK[status];
}
