/** A customer who writes to the business. */
export interface Contact {
  id: string;
  /** E.164 (`+77771234567`). */
  phone: string | null;
  /** The phone as the sender last wrote it (`+7 777 123 45 67`). */
  phoneRaw: string | null;
  name: string | null;
  avatarUrl: string | null;
  /** Sender's time of the name/avatar held, epoch ms. */
  infoUpdatedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** A contact update as the intake hands it over (from a `contact` event or a message's sender). */
export interface ContactUpdate {
  phone: string;
  phoneRaw: string;
  /** Undefined: the event says nothing about it. */
  name?: string | null;
  avatarUrl?: string | null;
  /** Sender's time of this information, epoch ms. */
  occurredAt: number;
}
