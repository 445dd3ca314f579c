import type { Generated } from 'kysely';

/**
 * Table types as Kysely sees them. Columns are snake_case; repositories map them to the
 * camelCase domain types in one place each. Times are epoch milliseconds; JSON is stored as text
 * so that both dialects read it the same way.
 */
export interface ContactsTable {
  id: string;
  /** E.164, unique when present. */
  phone: string | null;
  /** The phone exactly as the sender wrote it the last time. */
  phone_raw: string | null;
  name: string | null;
  avatar_url: string | null;
  /** Source time (sender's clock) of the newest information held (name, avatar or username). */
  info_updated_at: number | null;
  /** Source time of each piece held; an older update never overwrites that piece. */
  name_updated_at: number | null;
  avatar_updated_at: number | null;
  username_updated_at: number | null;
  created_at: number;
  updated_at: number;
  /** `chatType:chatId` for a contact known by messenger identity rather than phone; unique when present. */
  external_key: string | null;
  /** Telegram username, without `@`. */
  username: string | null;
  /** JSON: the data of the newest contact event (by its timestamp), as sent. */
  raw: string | null;
  /** Source time of the contact event whose data `raw` holds. */
  raw_updated_at: number | null;
}

export interface ChatsTable {
  id: string;
  /** Wazzup24 channel; '' for seed-format chats, which carry none. */
  channel_id: string;
  /** Messenger (whatsapp, telegram, …); '' for seed-format chats. */
  chat_type: string;
  /** The sender's chat id (`chatId`). */
  external_id: string;
  contact_id: string | null;
  status: string;
  assignee_id: string | null;
  last_message_id: string | null;
  last_message_at: number | null;
  last_activity_at: number;
  unread_count: number;
  created_at: number;
  updated_at: number;
}

export interface MessagesTable {
  id: string;
  /** The sender's message id; unique, which is what makes intake idempotent. */
  external_id: string;
  chat_id: string;
  contact_id: string | null;
  direction: string;
  type: string;
  text: string | null;
  sender: string | null;
  file_url: string | null;
  file_name: string | null;
  file_size: number | null;
  file_mime_type: string | null;
  sent_at: number;
  status: string | null;
  status_rank: number;
  status_at: number | null;
  failed_at: number | null;
  error: string | null;
  /** The whole `data` object as received, so fields we do not model are never lost. */
  raw: string;
  created_at: number;
  /** The operator who wrote an outgoing message (Wazzup24 `authorName` / `authorId`). */
  author_name: string | null;
  author_id: string | null;
  /** The sender's id of the message this one quotes. */
  quoted_message_id: string | null;
  edited_at: number | null;
  deleted_at: number | null;
}

export interface MessageRevisionsTable {
  id: string;
  message_external_id: string;
  /** `edited` or `deleted`. */
  kind: string;
  old_text: string | null;
  new_text: string | null;
  author_name: string | null;
  author_id: string | null;
  occurred_at: number;
  received_at: number;
  fingerprint: string;
  raw: string;
}

export interface MessageStatusesTable {
  id: string;
  /** Not a foreign key: a status may arrive before its message. */
  message_external_id: string;
  status: string;
  occurred_at: number;
  received_at: number;
  error: string | null;
  /** JSON: the status event's data as sent; null for a status carried inside a message. */
  raw: string | null;
}

export interface WebhookEventsTable {
  id: string;
  received_at: number;
  client_ip: string | null;
  user_agent: string | null;
  size_bytes: number;
  format: string | null;
  event: string | null;
  /** The id the event is about (message id, phone), for search. */
  subject: string | null;
  outcome: string;
  http_status: number;
  duration_ms: number;
  error: string | null;
  raw_body: string | null;
  auth_scheme: string | null;
  /** Which secret or token matched (`secret-1`, `token-2`), never the secret itself. */
  auth_key: string | null;
  /** 1 inside the IP allowlist, 0 outside (report mode), null without an allowlist. */
  ip_allowed: number | null;
  replay_of: string | null;
  replayed_at: number | null;
  replay_outcome: string | null;
}

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  /** `admin` or `operator`. */
  role: string;
  /** argon2id; null for an account that can only use API tokens. */
  password_hash: string | null;
  disabled_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface AuthTokensTable {
  id: string;
  user_id: string;
  /** `session` (from a login; expires) or `api` (named, for integrations). */
  kind: string;
  name: string | null;
  /** SHA-256 of the token; the token itself is never stored. */
  token_hash: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface DomainEventsTable {
  seq: Generated<number>;
  type: string;
  /** The event's payload as JSON. */
  payload: string;
  created_at: number;
}

/** One row: every outbox event up to this sequence number may have been purged; later ones are kept. */
export interface DomainEventsPurgeTable {
  purged_through_seq: number;
}

/** How far the purge has dropped accepted webhooks' bodies (one row; migration 0013). */
export interface WebhookLogPurgeTable {
  bodies_dropped_before: number;
}

/** Failed logins per key within a window (login throttling, shared by every instance). */
export interface LoginFailuresTable {
  /** `account:<normalised email>` or `address:<IPv4 address, or IPv6 /64>`. */
  key: string;
  /** Attempts of the window, counted before their password was checked, less those taken back. */
  failures: number;
  /** Of those, the ones whose password is being checked now, as long as `in_progress_until` has not passed. */
  in_progress: Generated<number>;
  /** When the last attempt admitted would be over, however long its check: after it, none is in progress. */
  in_progress_until: Generated<number>;
  window_started_at: number;
}

export interface Database {
  contacts: ContactsTable;
  chats: ChatsTable;
  messages: MessagesTable;
  message_statuses: MessageStatusesTable;
  message_revisions: MessageRevisionsTable;
  webhook_events: WebhookEventsTable;
  users: UsersTable;
  auth_tokens: AuthTokensTable;
  domain_events: DomainEventsTable;
  domain_events_purge: DomainEventsPurgeTable;
  webhook_log_purge: WebhookLogPurgeTable;
  login_failures: LoginFailuresTable;
}
