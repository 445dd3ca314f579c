/** A customer who writes to the business. */
export interface Contact {
  id: string;
  /** E.164 (`+77771234567`). */
  phone: string | null;
  /** The phone as the sender last wrote it (`+7 777 123 45 67`). */
  phoneRaw: string | null;
  name: string | null;
  avatarUrl: string | null;
  /**
   * Sender's time of the newest event about this contact applied (what the phone as written
   * follows), epoch ms; null only for rows from before it was kept.
   */
  infoUpdatedAt: number | null;
  /** Sender's time of the contact event whose data is held (`contacts.raw`); null when none is. */
  rawUpdatedAt: number | null;
  /** Sender's time of each piece held: an older update never overwrites that piece. */
  nameUpdatedAt: number | null;
  avatarUpdatedAt: number | null;
  usernameUpdatedAt: number | null;
  createdAt: number;
  updatedAt: number;
  /** `chatType:chatId` for a contact known by messenger identity rather than by phone. */
  externalKey: string | null;
  /** Telegram username, without `@`. */
  username: string | null;
}

/** A contact update as the intake hands it over (from a `contact` event or a message's sender). */
export interface ContactUpdate {
  /** E.164; the contact's key whenever it is known. */
  phone: string | null;
  phoneRaw: string | null;
  /** `chatType:chatId`: the key of a contact whose phone is unknown (Telegram, Instagram). */
  externalKey: string | null;
  /** Undefined: the event says nothing about it. */
  name?: string | null;
  avatarUrl?: string | null;
  username?: string | null;
  /** Sender's time of this information, epoch ms. */
  occurredAt: number;
  /** A contact event as sent, kept whole while it is the newest; absent for a message's sender. */
  raw?: unknown;
  /**
   * From a replayed webhook: it never counts as newer than information of the same time, which
   * arrived since. (Live, of two updates of the same time the later one wins.)
   */
  replayed?: boolean;
}
