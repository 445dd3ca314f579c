/**
 * The request mix: 80% new messages (unique ids) over ~1,000 chats, each with its own phone and
 * contact; 15% delivery statuses for messages the server has already acknowledged; 5% contact
 * updates. Bodies are built per request in autocannon's setupRequest, and every answer is tallied
 * in onResponse, so that afterwards the store can be checked against what was acknowledged.
 */
import type autocannon from 'autocannon';
import { monotonicMs } from './clock.js';

export const WEBHOOK_PATH = '/api/webhooks/wazzup24';

export type Kind = 'message' | 'status' | 'contact';
const KINDS: readonly Kind[] = ['message', 'status', 'contact'];

export interface Tally {
  sent: number;
  ok: number;
  failed: number;
}

interface Chat {
  externalId: string;
  phone: string;
  name: string;
  version: number;
}

/** What one in-flight request was about; autocannon keeps it in the connection's context. */
interface Pending {
  kind: Kind;
  messageId?: string;
  status?: 'delivered' | 'read';
}

interface Context {
  pending?: Pending;
}

export interface WorkloadOptions {
  chats?: number;
  seed?: number;
}

/** Deterministic, so two runs send the same mix (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `+7 916 000 12 34`: spaced the way people write them, so the server normalises every phone. */
function phoneOf(index: number): string {
  const digits = String(index).padStart(7, '0');
  return `+7 916 ${digits.slice(0, 3)} ${digits.slice(3, 5)} ${digits.slice(5)}`;
}

export class Workload {
  readonly tally: Record<Kind, Tally> = {
    message: { sent: 0, ok: 0, failed: 0 },
    status: { sent: 0, ok: 0, failed: 0 },
    contact: { sent: 0, ok: 0, failed: 0 },
  };
  /** Every new message id acknowledged with a 2xx: each must be in the store afterwards. */
  readonly ackedMessageIds: string[] = [];
  /** A few non-2xx answers, to show why a run failed. */
  readonly failures: string[] = [];
  /**
   * While timing (startTimingAcks): when each new message's 2xx reached autocannon (monotonicMs),
   * by message id, to be matched with the WebSocket frame that announces the message.
   */
  private ackTimes: Map<string, number> | undefined;

  private readonly random: () => number;
  private readonly chats: Chat[];
  private readonly tag: string;
  private messageCounter = 0;
  // Acknowledged messages waiting for `delivered`, then for `read`. Only acknowledged ids are used
  // so that a status finds its message stored (the common path) rather than arriving early.
  private readonly awaitingDelivered: string[] = [];
  private readonly awaitingRead: string[] = [];

  constructor(options: WorkloadOptions = {}) {
    const chatCount = options.chats ?? 1000;
    this.random = prng(options.seed ?? 20_240_601);
    // Unique per run, so that ids never collide with an earlier run even on a reused store.
    this.tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
    this.chats = Array.from({ length: chatCount }, (_, i) => ({
      externalId: `bench-chat-${i}`,
      phone: phoneOf(i),
      name: `Клиент ${i}`,
      version: 0,
    }));
  }

  /** The autocannon request list: one POST whose body is rebuilt for every request. */
  requests(): autocannon.Request[] {
    return [
      {
        method: 'POST',
        path: WEBHOOK_PATH,
        setupRequest: (request, context) => this.setup(request, context as Context),
        onResponse: (status, body, context) => this.record(status, body, context as Context),
      },
    ];
  }

  /** From now on, records when each new message is acknowledged (only the measured run). */
  startTimingAcks(): void {
    this.ackTimes = new Map();
  }

  /** Stops recording; returns the acknowledgement times by message id, in order of arrival. */
  stopTimingAcks(): Map<string, number> {
    const times = this.ackTimes ?? new Map<string, number>();
    this.ackTimes = undefined;
    return times;
  }

  private setup(request: autocannon.Request, context: Context): autocannon.Request {
    const roll = this.random();
    let body: object;
    let pending: Pending;
    if (roll < 0.8 || (roll < 0.95 && this.awaitingDelivered.length + this.awaitingRead.length === 0)) {
      ({ body, pending } = this.newMessage());
    } else if (roll < 0.95) {
      ({ body, pending } = this.newStatus());
    } else {
      ({ body, pending } = this.contactUpdate());
    }
    this.tally[pending.kind].sent += 1;
    context.pending = pending;
    request.body = JSON.stringify(body);
    return request;
  }

  private record(status: number, body: string, context: Context): void {
    // First, before any bookkeeping: this is "the 200 arrived" for the real-time latency.
    const at = this.ackTimes === undefined ? 0 : monotonicMs();
    const pending = context.pending;
    if (!pending) return;
    context.pending = undefined;
    const tally = this.tally[pending.kind];
    if (status < 200 || status >= 300) {
      tally.failed += 1;
      if (this.failures.length < 5) this.failures.push(`${pending.kind}: HTTP ${status} ${body.slice(0, 300)}`);
      return;
    }
    tally.ok += 1;
    if (pending.kind === 'message') {
      this.ackTimes?.set(pending.messageId!, at);
      this.ackedMessageIds.push(pending.messageId!);
      this.awaitingDelivered.push(pending.messageId!);
    } else if (pending.kind === 'status' && pending.status === 'delivered') {
      this.awaitingRead.push(pending.messageId!);
    }
  }

  private pickChat(): Chat {
    return this.chats[Math.floor(this.random() * this.chats.length)]!;
  }

  private newMessage(): { body: object; pending: Pending } {
    const chat = this.pickChat();
    const n = ++this.messageCounter;
    const id = `bench-${this.tag}-${n}`;
    return {
      pending: { kind: 'message', messageId: id },
      body: {
        event: 'message',
        data: {
          id,
          chatId: chat.externalId,
          text: `Здравствуйте! У меня вопрос по заказу №${n}.`,
          type: 'text',
          from: chat.phone,
          timestamp: Math.floor(Date.now() / 1000),
          contact: { name: chat.name, phone: chat.phone },
        },
      },
    };
  }

  private newStatus(): { body: object; pending: Pending } {
    // The newest messages first, as a messenger reports them shortly after sending.
    const read = this.awaitingRead.length > 0 && (this.awaitingDelivered.length === 0 || this.random() < 0.5);
    const messageId = read ? this.awaitingRead.pop()! : this.awaitingDelivered.pop()!;
    const status = read ? 'read' : 'delivered';
    return {
      pending: { kind: 'status', messageId, status },
      body: { event: 'status', data: { messageId, status, timestamp: Math.floor(Date.now() / 1000) } },
    };
  }

  private contactUpdate(): { body: object; pending: Pending } {
    const chat = this.pickChat();
    chat.version += 1;
    chat.name = `Клиент ${chat.externalId.slice('bench-chat-'.length)} (v${chat.version})`;
    return {
      pending: { kind: 'contact' },
      body: {
        event: 'contact',
        data: {
          phone: chat.phone,
          name: chat.name,
          avatar: `https://wazzup24.com/avatars/${chat.externalId}-${chat.version}.jpg`,
          timestamp: Math.floor(Date.now() / 1000),
        },
      },
    };
  }

  /** Totals over every kind. */
  totals(): Tally {
    const total: Tally = { sent: 0, ok: 0, failed: 0 };
    for (const kind of KINDS) {
      total.sent += this.tally[kind].sent;
      total.ok += this.tally[kind].ok;
      total.failed += this.tally[kind].failed;
    }
    return total;
  }
}
