// The RabbitMQ sink: connections and confirm channels, and one batch of messages at a time handed to
// the broker. It respects the socket's backpressure (publish() returning false → wait for 'drain')
// and the broker's flow control (connection.blocked → wait for unblocked), and reports for every
// message what the broker said: acked, nacked, returned (unroutable) or lost with the channel.
// Batching, the window of outstanding confirms, retries and reconnecting are the engine's
// (seed/rabbitmq-engine.ts).
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import { describeUrl, redact } from '../lib/redact.ts';

export interface AmqpMessage {
  routingKey: string;
  content: Buffer;
  options: Options.Publish & { messageId: string };
}

/** What the broker said about one message (codes in WriteOutcome.status). */
export const MessageStatus = { Pending: 0, Acked: 1, Nacked: 2, Returned: 3, Lost: 4 } as const;

export interface WriteOutcome {
  /** Per message of the batch, in order. */
  status: Uint8Array;
  /** Why the broker returned a message (index → reply), e.g. 312 NO_ROUTE. */
  returned: Map<number, { replyCode: number; replyText: string }>;
  /** Why messages were lost (channel or connection closed before their confirm). */
  error?: Error;
  /** Milliseconds from handing the batch to the socket to the last confirm. */
  latencyMs: number;
}

export interface RabbitmqSinkOptions {
  url: string;
  exchange: string;
  /** Confirm channels to publish on (batches go round-robin: more than 1 gives up the order of events). */
  channels: number;
  /** TCP connections the channels are spread over. */
  connections: number;
  /** Seconds; lets a dead broker be noticed even when nothing is in flight. */
  heartbeat?: number;
  /** Milliseconds to establish the TCP connection. */
  connectTimeoutMs?: number;
}

/** The broker could not be reached or refused us; `retryable` says whether trying again can help. */
export class RabbitmqConnectError extends Error {
  constructor(message: string, readonly retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RabbitmqConnectError';
  }
}

/** The connection or channel went away while publishing. */
export class ChannelLostError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChannelLostError';
  }
}

interface PublishChannel {
  channel: ConfirmChannel;
  connection: ConnectionState;
  closed?: Error;
  /** Returned messages by id until their confirm arrives (the broker sends basic.return first). */
  returns: Map<string, { replyCode: number; replyText: string }>;
  waiters: Set<() => void>;
}

interface ConnectionState {
  model: ChannelModel;
  blocked?: string;
  closed?: Error;
  waiters: Set<() => void>;
}

export class RabbitmqSink {
  private connectionStates: ConnectionState[] = [];
  private publishChannels: PublishChannel[] = [];
  private next = 0;
  private closing = false;

  constructor(private readonly options: RabbitmqSinkOptions) {}

  /** Where we publish, safe to print: host:port and vhost, never the password. */
  get broker(): string {
    const { server, database } = describeUrl(this.options.url);
    return `${server} vhost ${database || '/'}`;
  }

  /**
   * Why publishing failed, most telling first: a lost connection (e.g. the broker shutting down), else
   * the broker's reason for closing a channel (e.g. a message over max_message_size).
   */
  get failure(): Error | undefined {
    return this.connectionStates.find((c) => c.closed)?.closed ?? this.publishChannels.find((c) => c.closed && c.closed.cause)?.closed;
  }

  /** Why the broker holds us back right now (a memory or disk alarm), if it does. */
  get blockedReason(): string | undefined {
    return this.connectionStates.find((c) => c.blocked)?.blocked;
  }

  async connect(): Promise<void> {
    try {
      for (let i = 0; i < Math.max(1, this.options.connections); i++) this.connectionStates.push(await this.openConnection());
      for (let i = 0; i < Math.max(1, this.options.channels); i++) {
        const connection = this.connectionStates[i % this.connectionStates.length];
        this.publishChannels.push(await this.openPublishChannel(connection));
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** A plain channel on the first connection, for declaring topology. */
  openChannel = async (): Promise<Channel> => {
    const ch = await this.connectionStates[0].model.createChannel();
    return ch;
  };

  /**
   * Publishes one batch on the next channel. Resolves once every message is handed to the socket
   * (after waiting for 'drain' or for the broker to unblock us); `confirmed` resolves when the broker
   * has answered for every message, or the channel is gone. Throws ChannelLostError if the channel is
   * already closed when publishing.
   */
  async writeBatch(messages: readonly AmqpMessage[]): Promise<{ confirmed: Promise<WriteOutcome> }> {
    const target = this.publishChannels[this.next++ % this.publishChannels.length];
    const outcome: WriteOutcome = { status: new Uint8Array(messages.length), returned: new Map(), latencyMs: 0 };
    const started = performance.now();
    let remaining = messages.length;
    let settle!: (o: WriteOutcome) => void;
    const confirmed = new Promise<WriteOutcome>((resolve) => (settle = resolve));
    if (remaining === 0) settle(outcome);
    const { exchange } = this.options;
    for (let i = 0; i < messages.length; i++) {
      // Only a blocked connection costs an await: one per message was a tenth of the CPU time.
      if (target.closed || target.connection.closed || target.connection.blocked) await this.ready(target);
      const message = messages[i];
      const index = i;
      const ok = target.channel.publish(exchange, message.routingKey, message.content, message.options, (err) => {
        if (outcome.status[index] !== MessageStatus.Pending) return;
        const returned = target.returns.get(message.options.messageId);
        if (err) {
          // amqplib calls back with 'message nacked' for a basic.nack, and 'channel closed' for
          // every message still unconfirmed when the channel goes.
          if (/nacked/.test(String((err as Error).message))) {
            outcome.status[index] = MessageStatus.Nacked;
          } else {
            outcome.status[index] = MessageStatus.Lost;
            outcome.error ??= target.closed ?? target.connection.closed ?? new ChannelLostError(`channel to RabbitMQ at ${this.broker} closed`);
          }
        } else if (returned) {
          target.returns.delete(message.options.messageId);
          outcome.status[index] = MessageStatus.Returned;
          outcome.returned.set(index, returned);
        } else {
          outcome.status[index] = MessageStatus.Acked;
        }
        if (--remaining === 0) {
          outcome.latencyMs = performance.now() - started;
          settle(outcome);
        }
      });
      if (!ok) await this.drained(target);
    }
    return { confirmed };
  }

  async close(): Promise<void> {
    this.closing = true;
    const states = this.connectionStates;
    this.connectionStates = [];
    this.publishChannels = [];
    // Closing waits for nothing the broker still owes us: the engine decides what is confirmed.
    await Promise.all(states.map((c) => (c.closed ? undefined : c.model.close().catch(() => undefined))));
  }

  private async openConnection(): Promise<ConnectionState> {
    let model: ChannelModel;
    try {
      model = await amqp.connect(withHeartbeat(this.options.url, this.options.heartbeat ?? 10), {
        timeout: this.options.connectTimeoutMs ?? 5_000,
        clientProperties: { connection_name: 'ferry seed rabbitmq' },
      });
    } catch (err) {
      throw connectError(err as Error, this.options.url);
    }
    const state: ConnectionState = { model, waiters: new Set() };
    model.on('blocked', (reason: string) => {
      state.blocked = reason || 'blocked';
    });
    model.on('unblocked', () => {
      state.blocked = undefined;
      wake(state.waiters);
    });
    // 'error' comes before 'close' when the broker or the socket ends the connection abnormally.
    model.on('error', (err: Error) => {
      state.closed ??= new ChannelLostError(`connection to RabbitMQ at ${this.broker} lost: ${redact(err.message)}`, { cause: err });
    });
    model.on('close', (err?: Error) => {
      state.closed ??= new ChannelLostError(`connection to RabbitMQ at ${this.broker} ${this.closing ? 'closed' : 'lost'}${err ? `: ${redact(err.message)}` : ''}`, { cause: err });
      wake(state.waiters);
      for (const ch of this.publishChannels) if (ch.connection === state) wake(ch.waiters);
    });
    return state;
  }

  private async openPublishChannel(connection: ConnectionState): Promise<PublishChannel> {
    const channel = await connection.model.createConfirmChannel();
    const state: PublishChannel = { channel, connection, returns: new Map(), waiters: new Set() };
    channel.on('return', (message) => {
      const id = message.properties.messageId as string | undefined;
      const fields = message.fields as unknown as { replyCode: number; replyText: string };
      if (id !== undefined) state.returns.set(id, { replyCode: fields.replyCode, replyText: fields.replyText });
    });
    channel.on('error', (err: Error) => {
      state.closed ??= new ChannelLostError(`channel to RabbitMQ at ${this.broker} closed: ${redact(err.message)}`, { cause: err });
    });
    channel.on('close', () => {
      state.closed ??= connection.closed ?? new ChannelLostError(`channel to RabbitMQ at ${this.broker} closed`);
      wake(state.waiters);
    });
    channel.on('drain', () => wake(state.waiters));
    return state;
  }

  /** Waits while the broker blocks the connection; throws once the channel is gone. */
  private async ready(target: PublishChannel): Promise<void> {
    for (;;) {
      const lost = target.closed ?? target.connection.closed;
      if (lost) throw lost;
      if (!target.connection.blocked) return;
      await new Promise<void>((resolve) => {
        target.connection.waiters.add(resolve);
        target.waiters.add(resolve);
      });
    }
  }

  private async drained(target: PublishChannel): Promise<void> {
    if (target.closed ?? target.connection.closed) return;
    await new Promise<void>((resolve) => target.waiters.add(resolve));
  }
}

function wake(waiters: Set<() => void>): void {
  const all = [...waiters];
  waiters.clear();
  for (const w of all) w();
}

/** Turns amqplib's connect failures into one line that says what to check. */
function connectError(err: Error, url: string): RabbitmqConnectError {
  const { server, database } = describeUrl(url);
  const user = safeUser(url);
  const where = `RabbitMQ at ${server}`;
  const code = (err as NodeJS.ErrnoException).code;
  const message = redact(err.message);
  if (/ACCESS.REFUSED/.test(message)) {
    return new RabbitmqConnectError(`${where} refused the login of user "${user}": check the user name and password in --url (or FERRY_AMQP_URL)`, false, { cause: err });
  }
  if (/Expected ConnectionOpenOk; got <ConnectionClose/.test(message) || /NOT_ALLOWED|vhost/i.test(message)) {
    return new RabbitmqConnectError(`${where} would not open virtual host "${database || '/'}" for user "${user}": check that the vhost exists and the user may use it (the path of --url)`, false, { cause: err });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new RabbitmqConnectError(`cannot resolve the RabbitMQ host in ${redact(url)} (${code}): check --url`, code === 'EAI_AGAIN', { cause: err });
  }
  if (/Expected amqp: or amqps:|Invalid URL/i.test(message)) {
    return new RabbitmqConnectError(`--url ${redact(url)} is not an amqp:// or amqps:// URL`, false, { cause: err });
  }
  return new RabbitmqConnectError(`cannot reach ${where} (${code ?? message}): is the broker running? check --url`, true, { cause: err });
}

/** Adds ?heartbeat=N unless the URL sets its own. */
function withHeartbeat(url: string, seconds: number): string {
  try {
    const u = new URL(url);
    if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(seconds));
    return u.toString();
  } catch {
    return url;
  }
}

function safeUser(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || 'guest';
  } catch {
    return '?';
  }
}
