// `ferry seed rabbitmq`: event dumps → one RabbitMQ exchange, at least once and resumable.
//
// The engine owns batching, the window of outstanding confirms, retries, reconnecting and the
// checkpoint; the sink (seed/rabbitmq-sink.ts) only talks to the broker. The window counts messages
// published past the last checkpoint written to disk, so however the process dies, a resumed run
// re-sends at most `window` messages that the broker may already have (consumers drop them by
// messageId: event ids are deterministic).
import type protobuf from 'protobufjs';
import { decodePayload, isoToTimestamp, type EventRecord } from '../dumps/index.ts';
import { UserError } from '../lib/errors.ts';
import { Latencies, Progress, formatCount, type ProgressSummary } from '../lib/progress.ts';
import { redact } from '../lib/redact.ts';
import { CheckpointFile } from './checkpoint-file.ts';
import { eventBlocks, listEventDumps, parseShard, type EventBlock } from './event-batches.ts';
import { ChannelLostError, MessageStatus, RabbitmqConnectError, RabbitmqSink, type AmqpMessage, type WriteOutcome } from './rabbitmq-sink.ts';
import { checkExchange, declareTopology, type RabbitmqQueue } from './rabbitmq-topology.ts';
import { SEED_RABBITMQ_DEFAULTS } from './rabbitmq-defaults.ts';

export type PayloadEncoding = 'protobuf' | 'json';
export type UnroutablePolicy = 'fail' | 'skip';

export { SEED_RABBITMQ_DEFAULTS };

export interface SeedRabbitmqOptions {
  /** Folder with the event dumps. */
  in: string;
  /** Also read the dumps in subfolders of the input folder (--recursive). */
  recursive?: boolean;
  url: string;
  exchange: string;
  /** Declare the exchange and `queues` (else only check that the exchange exists). */
  declare: boolean;
  queues: RabbitmqQueue[];
  payload: PayloadEncoding;
  batchSize: number;
  /** Most messages published and not yet covered by the checkpoint on disk. */
  window: number;
  channels: number;
  connections: number;
  maxMessageBytes: number;
  unroutable: UnroutablePolicy;
  checkpoint: string;
  resume: boolean;
  restart: boolean;
  shard?: string;
  connectTimeoutSeconds: number;
  reconnectTimeoutSeconds: number;
  nackRetries: number;
  /** Live progress on stderr (off in tests and --quiet runs). */
  quiet?: boolean;
  /** Aborting stops reading, waits for what is in flight, saves the checkpoint and fails with "interrupted". */
  signal?: AbortSignal;
  /** Notes for the user (reconnects, resume position); stderr by default. */
  log?: (line: string) => void;
}

export interface SeedRabbitmqSummary {
  command: 'seed rabbitmq';
  broker: string;
  exchange: string;
  payload: PayloadEncoding;
  checkpoint: string;
  resumed: boolean;
  complete: boolean;
  events: number;
  bytes: number;
  seconds: number;
  eventsPerSecond: number;
  mbPerSecond: number;
  types: Record<string, number>;
  files: Array<{ file: string; records: number; from: number; next: number }>;
  confirmLatencyMs: { p50: number; p95: number; p99: number; max: number; batches: number };
  batchSize: number;
  window: number;
  channels: number;
  connections: number;
  reconnects: number;
  nackRetries: number;
  unroutable: { policy: UnroutablePolicy; events: number; types: Record<string, number> };
}

export interface RabbitmqCheckpoint {
  format: 'ferry-seed-rabbitmq/1';
  exchange: string;
  broker: string;
  shard: string | null;
  /** Per input file: index of the first event not yet confirmed by the broker, and the file's event count. */
  files: Record<string, { next: number; records: number }>;
  complete: boolean;
  updatedAt: string;
}

/** An event that cannot be published as it is; carries where it is in the input. */
export class SeedEventError extends UserError {
  constructor(message: string, readonly location: { file: string; record: number; eventId: string }) {
    super(message);
    this.name = 'SeedEventError';
  }
}

interface Entry {
  file: string;
  fromRecord: number;
  toRecord: number;
  events: EventRecord[];
  messages: AmqpMessage[];
  /** 0 … messages.length - 1: what a first publication of the whole batch sends. */
  indexes: number[];
  bytes: number;
  /** Per message: confirmed (acked, or returned and skipped by policy). */
  done: Uint8Array;
  remaining: number;
  nackAttempts: number;
}

export async function seedRabbitmq(options: SeedRabbitmqOptions): Promise<SeedRabbitmqSummary> {
  return new RabbitmqSeeder(options).run();
}

class RabbitmqSeeder {
  private sink!: RabbitmqSink;
  private generation = 0;
  private readonly entries: Entry[] = [];
  private readonly checkpointFile: CheckpointFile<RabbitmqCheckpoint>;
  private checkpoint!: RabbitmqCheckpoint;
  private readonly startPositions = new Map<string, number>();
  /** Messages handed to the sink (each once, however often re-sent) and covered by the checkpoint on disk. */
  private published = 0;
  private confirmed = 0;
  private durable = 0;
  private saving?: Promise<void>;
  private saveAgain = false;
  private broken?: Error;
  private fatal?: Error;
  private retries: Array<{ entry: Entry; indexes: number[] }> = [];
  private wakeup?: () => void;
  private reconnects = 0;
  /** Publications whose confirms have not all come back. */
  private outstanding = 0;
  private recoveriesWithoutProgress = 0;
  private nackRetried = 0;
  private readonly types = new Map<string, number>();
  private readonly unroutableTypes = new Map<string, number>();
  private unroutableCount = 0;
  private readonly latencies = new Latencies();
  private lastLatencyMs = 0;
  private progress!: SeedProgress;
  private readonly log: (line: string) => void;

  constructor(private readonly options: SeedRabbitmqOptions) {
    this.checkpointFile = new CheckpointFile(options.checkpoint);
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  async run(): Promise<SeedRabbitmqSummary> {
    const o = this.options;
    if (o.batchSize < 1 || o.window < 1 || o.channels < 1 || o.connections < 1) throw new UserError('--batch-size, --window, --channels and --connections must be at least 1');
    const includeBlock = parseShard(o.shard);
    const dumps = await listEventDumps(o.in, o.recursive);
    const broker = new RabbitmqSink(this.sinkOptions()).broker;
    const resumed = await this.loadCheckpoint(dumps, broker);
    const total = o.shard ? undefined : dumps.reduce((s, d) => s + d.records - (this.startPositions.get(d.file) ?? 0), 0);

    await this.connect(true);
    let finished: ProgressSummary | undefined;
    try {
      if (o.declare) await declareTopology(this.sink.openChannel, o.exchange, o.queues);
      else await checkExchange(this.sink.openChannel, o.exchange);

      this.progress = new SeedProgress({ label: `seed rabbitmq → ${o.exchange}`, unit: 'events', total, quiet: o.quiet }, () => this.liveState());
      if (!this.checkpoint.complete) {
        await this.save();
        await this.publishAll(eventBlocks(o.in, { resumeFrom: this.startPositions, includeBlock, recursive: o.recursive }));
        this.checkpoint.complete = true;
        await this.save();
      }
    } catch (err) {
      await this.settle();
      throw err;
    } finally {
      finished = this.progress?.finish();
      await this.sink.close();
    }
    return this.summary(broker, resumed, finished!);
  }

  /**
   * Before failing: lets the broker answer for what is in flight (bounded), so the checkpoint records
   * everything confirmed and --resume re-sends as little as possible.
   */
  private async settle(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (this.outstanding > 0 && !this.broken && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        // unref: a failing run must not stay alive for this timer.
        const timer = setTimeout(resolve, deadline - Date.now()).unref();
        this.wakeup = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await this.saving;
    if (this.checkpoint && this.confirmed > this.durable) await this.save();
  }

  private sinkOptions() {
    const o = this.options;
    return { url: o.url, exchange: o.exchange, channels: o.channels, connections: o.connections, connectTimeoutMs: Math.min(5_000, o.connectTimeoutSeconds * 1000) };
  }

  // ── checkpoint ────────────────────────────────────────────────────────────

  private async loadCheckpoint(dumps: Array<{ file: string; records: number }>, broker: string): Promise<boolean> {
    const o = this.options;
    const found = await this.checkpointFile.read();
    if (found && o.restart) await this.checkpointFile.remove();
    else if (found && !o.resume) {
      const confirmed = Object.values(found.files ?? {}).reduce((s, f) => s + f.next, 0);
      throw new UserError(`checkpoint ${o.checkpoint} exists (${found.complete ? 'a finished run' : `${confirmed} events confirmed`} to exchange ${found.exchange}): pass --resume to continue it, or --restart to publish everything again`);
    }
    const resumeFrom = found && o.resume ? found : undefined;
    if (resumeFrom) {
      if (resumeFrom.format !== 'ferry-seed-rabbitmq/1' || typeof resumeFrom.files !== 'object') throw new UserError(`checkpoint ${o.checkpoint} is not a ferry seed rabbitmq checkpoint: pass --restart, or another --checkpoint`);
      if (resumeFrom.exchange !== o.exchange) throw new UserError(`checkpoint ${o.checkpoint} is for exchange ${resumeFrom.exchange}, not ${o.exchange}: pass --exchange ${resumeFrom.exchange}, or --restart`);
      if ((resumeFrom.shard ?? null) !== (o.shard ?? null)) throw new UserError(`checkpoint ${o.checkpoint} is for shard ${resumeFrom.shard ?? 'none'}, not ${o.shard ?? 'none'}: pass the same --shard, or --restart`);
      for (const d of dumps) {
        const at = resumeFrom.files[d.file];
        if (at && at.records !== d.records) throw new UserError(`${d.file} has ${d.records} events but had ${at.records} when checkpoint ${o.checkpoint} was written: the input changed, pass --restart`);
        if (at) this.startPositions.set(d.file, at.next);
      }
    }
    this.checkpoint = {
      format: 'ferry-seed-rabbitmq/1',
      exchange: o.exchange,
      broker,
      shard: o.shard ?? null,
      files: Object.fromEntries(dumps.map((d) => [d.file, { next: this.startPositions.get(d.file) ?? 0, records: d.records }])),
      complete: Boolean(resumeFrom?.complete),
      updatedAt: new Date().toISOString(),
    };
    if (resumeFrom) {
      const done = [...this.startPositions.values()].reduce((s, n) => s + n, 0);
      this.log(`resuming from ${o.checkpoint}: ${done} events already confirmed${resumeFrom.complete ? ' (the run had finished)' : ''}`);
    }
    return Boolean(resumeFrom);
  }

  /** Writes the checkpoint now, or once more after the write in progress (writes never overlap). */
  private save(): Promise<void> {
    if (this.saving) {
      this.saveAgain = true;
      return this.saving;
    }
    this.saving = (async () => {
      try {
        do {
          this.saveAgain = false;
          const covered = this.confirmed;
          this.checkpoint.updatedAt = new Date().toISOString();
          await this.checkpointFile.write(this.checkpoint);
          this.durable = covered;
          this.wake();
        } while (this.saveAgain);
      } catch (err) {
        this.fatal ??= new UserError(`cannot write checkpoint ${this.options.checkpoint}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
        this.wake();
      } finally {
        this.saving = undefined;
        this.wake();
      }
    })();
    return this.saving;
  }

  // ── publishing ────────────────────────────────────────────────────────────

  private async publishAll(blocks: AsyncIterable<EventBlock>): Promise<void> {
    const { batchSize } = this.options;
    // eventBlocks decodes each envelope straight from the wire (decodeEnvelope) and inflates the
    // next block while this one is published. A batch holds consecutive records of one file only
    // (it goes on over a block boundary when the next block follows on), so "up to toRecord" is a
    // true position.
    let events: EventRecord[] = [];
    let from = 0;
    let current: EventBlock | undefined;
    reading: for await (const block of blocks) {
      if (events.length && (block.file !== current!.file || block.fromRecord !== from + events.length)) {
        if (!(await this.send(current!, from, events))) break;
        events = [];
      }
      if (!events.length) from = block.fromRecord;
      current = block;
      for (const event of block.events()) {
        events.push(event);
        if (events.length >= batchSize) {
          if (!(await this.send(block, from, events))) break reading;
          from += events.length;
          events = [];
        }
      }
    }
    if (events.length) await this.send(current!, from, events);
    await this.until(() => this.entries.length === 0 && this.durable === this.confirmed && !this.saving);
    if (this.options.signal?.aborted) {
      throw new UserError(`interrupted after ${this.confirmed} confirmed events; checkpoint ${this.options.checkpoint} is saved: run again with --resume to continue`);
    }
  }

  /** Publishes one batch once the window has room for it; false once aborted (nothing sent). */
  private async send(block: EventBlock, fromRecord: number, events: EventRecord[]): Promise<boolean> {
    if (this.options.signal?.aborted) return false;
    const { window } = this.options;
    const entry = this.encode(block, fromRecord, events);
    // Room in the window: published but not yet on disk as confirmed, plus this batch.
    await this.until(() => this.published === this.durable || this.published - this.durable + entry.messages.length <= window);
    this.entries.push(entry);
    this.published += entry.messages.length;
    await this.publish(entry, entry.indexes);
    return true;
  }

  private encode(block: EventBlock, fromRecord: number, events: EventRecord[]): Entry {
    const { payload, maxMessageBytes } = this.options;
    const messages = new Array<AmqpMessage>(events.length);
    const indexes = new Array<number>(events.length);
    let bytes = 0;
    for (let i = 0; i < events.length; i++) {
      const event = events[i];
      const message = toAmqpMessage(event, block.root, payload);
      if (message.content.length > maxMessageBytes) {
        throw new SeedEventError(
          `event ${event.id} (${event.type}) in ${block.file} record ${fromRecord + i} is ${message.content.length} bytes, over the ${maxMessageBytes}-byte message size limit (--max-message-bytes, the broker's max_message_size): raise both, or make the transform produce a smaller payload`,
          { file: block.file, record: fromRecord + i, eventId: event.id },
        );
      }
      messages[i] = message;
      indexes[i] = i;
      bytes += message.content.length;
    }
    return {
      file: block.file, fromRecord, toRecord: fromRecord + events.length, events, messages, indexes, bytes,
      done: new Uint8Array(messages.length), remaining: messages.length, nackAttempts: 0,
    };
  }

  /** Hands messages to the sink; a lost connection is noted for `until` to recover from. */
  private async publish(entry: Entry, indexes: number[]): Promise<void> {
    if (this.broken || indexes.length === 0) return;
    const generation = this.generation;
    let publication: { confirmed: Promise<WriteOutcome> };
    try {
      publication = await this.sink.writeBatch(indexes.map((i) => entry.messages[i]));
    } catch (err) {
      if (err instanceof ChannelLostError) {
        this.broken ??= err;
        return;
      }
      const i = indexes[0];
      throw new SeedEventError(`cannot publish a batch of ${entry.file} from record ${entry.fromRecord + i}: ${(err as Error).message}`, { file: entry.file, record: entry.fromRecord + i, eventId: entry.events[i].id });
    }
    this.outstanding++;
    void publication.confirmed.then((outcome) => {
      this.outstanding--;
      this.onOutcome(entry, indexes, outcome, generation);
    });
  }

  private onOutcome(entry: Entry, indexes: number[], outcome: WriteOutcome, generation: number): void {
    const current = generation === this.generation;
    const nacked: number[] = [];
    for (let k = 0; k < indexes.length; k++) {
      const i = indexes[k];
      if (entry.done[i]) continue;
      const status = outcome.status[k];
      if (status === MessageStatus.Acked) this.markDone(entry, i);
      else if (status === MessageStatus.Returned) {
        const reply = outcome.returned.get(k)!;
        const event = entry.events[i];
        if (this.options.unroutable === 'skip') {
          this.unroutableCount++;
          this.unroutableTypes.set(event.type, (this.unroutableTypes.get(event.type) ?? 0) + 1);
          this.markDone(entry, i);
        } else {
          this.fatal ??= new SeedEventError(
            `event ${event.id} in ${entry.file} record ${entry.fromRecord + i} came back unroutable (${reply.replyCode} ${reply.replyText}): no queue is bound to exchange ${this.options.exchange} for routing key ${event.type}; bind one (rabbitmq.queues in the config with --declare), or pass --unroutable skip to count and drop such events`,
            { file: entry.file, record: entry.fromRecord + i, eventId: event.id },
          );
        }
      } else if (status === MessageStatus.Nacked && current) nacked.push(i);
      else if (status === MessageStatus.Lost && current) this.broken ??= outcome.error ?? new ChannelLostError('channel closed');
    }
    if (current && outcome.status.length && !outcome.error) {
      this.latencies.add(outcome.latencyMs);
      this.lastLatencyMs = outcome.latencyMs;
    }
    if (nacked.length) {
      if (++entry.nackAttempts > this.options.nackRetries) {
        const i = nacked[0];
        this.fatal ??= new SeedEventError(`the broker refused (nacked) event ${entry.events[i].id} in ${entry.file} record ${entry.fromRecord + i} ${entry.nackAttempts} times: check the broker's log and the queues' limits (x-max-length with reject-publish?)`, { file: entry.file, record: entry.fromRecord + i, eventId: entry.events[i].id });
      } else {
        this.retries.push({ entry, indexes: nacked });
      }
    }
    this.advance();
    this.wake();
  }

  private markDone(entry: Entry, i: number): void {
    entry.done[i] = 1;
    entry.remaining--;
  }

  /** Moves the checkpoint over every batch at the head that is fully confirmed. */
  private advance(): void {
    let moved = false;
    while (this.entries.length && this.entries[0].remaining === 0) {
      const entry = this.entries.shift()!;
      this.checkpoint.files[entry.file].next = entry.toRecord;
      this.confirmed += entry.messages.length;
      for (const e of entry.events) this.types.set(e.type, (this.types.get(e.type) ?? 0) + 1);
      this.progress.add(entry.messages.length, entry.bytes);
      moved = true;
    }
    if (moved) {
      this.recoveriesWithoutProgress = 0;
      void this.save();
    }
  }

  /** Waits for `condition`, meanwhile re-sending nacked messages and reconnecting when needed. */
  private async until(condition: () => boolean): Promise<void> {
    for (;;) {
      if (this.fatal) throw this.fatal;
      if (this.broken) {
        await this.recover();
        continue;
      }
      if (this.retries.length) {
        const retries = this.retries;
        this.retries = [];
        const attempt = Math.max(...retries.map((r) => r.entry.nackAttempts));
        await sleep(Math.min(5_000, 100 * 2 ** (attempt - 1)));
        for (const r of retries) {
          this.nackRetried += r.indexes.length;
          await this.publish(r.entry, r.indexes);
        }
        continue;
      }
      if (condition()) return;
      await new Promise<void>((resolve) => (this.wakeup = resolve));
    }
  }

  private wake(): void {
    const w = this.wakeup;
    this.wakeup = undefined;
    w?.();
  }

  // ── connecting ────────────────────────────────────────────────────────────

  /**
   * Opens the sink, trying again with backoff while the broker is unreachable: for
   * --connect-timeout at the start, --reconnect-timeout after losing it mid-run. Wrong credentials
   * or vhost fail at once. (amqplib's own recovery would also retry those, and would hide from us
   * which confirms were lost.)
   */
  private async connect(initial: boolean): Promise<void> {
    const o = this.options;
    const limitMs = (initial ? o.connectTimeoutSeconds : o.reconnectTimeoutSeconds) * 1000;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const sink = new RabbitmqSink(this.sinkOptions());
      try {
        await sink.connect();
        this.sink = sink;
        this.generation++;
        return;
      } catch (err) {
        const retryable = err instanceof RabbitmqConnectError ? err.retryable : true;
        const message = redact((err as Error).message);
        const waited = Date.now() - started;
        if (!retryable) throw new UserError(message, { cause: err });
        if (waited >= limitMs) {
          const seconds = Math.round(waited / 1000);
          throw new UserError(initial
            ? `${message} (tried ${attempt} times in ${seconds} s)`
            : `${message} (tried for ${seconds} s after losing the connection); ${this.confirmed} events were confirmed and checkpoint ${o.checkpoint} is saved: run again with --resume when the broker is back`, { cause: err });
        }
        await sleep(Math.min(limitMs - waited, Math.min(5_000, 250 * 2 ** (attempt - 1)) * (0.8 + 0.4 * Math.random())));
      }
    }
  }

  /** After losing the connection: reconnect and re-send every message not yet confirmed, in order. */
  private async recover(): Promise<void> {
    const lost = this.sink.failure ?? this.broken!;
    const oversize = /message size (\d+) is larger than configured max size (\d+)/.exec(lost.message);
    if (oversize) {
      const size = Number(oversize[1]);
      const entry = this.entries.find((e) => e.messages.some((m, i) => !e.done[i] && m.content.length === size));
      const i = entry ? entry.messages.findIndex((m, k) => !entry.done[k] && m.content.length === size) : -1;
      throw entry
        ? new SeedEventError(`event ${entry.events[i].id} (${entry.events[i].type}) in ${entry.file} record ${entry.fromRecord + i} is ${size} bytes, over the broker's max_message_size of ${oversize[2]} bytes: raise it on the broker, or pass --max-message-bytes ${oversize[2]} to find every such event before publishing`, { file: entry.file, record: entry.fromRecord + i, eventId: entry.events[i].id })
        : new UserError(`the broker refused a message of ${size} bytes, over its max_message_size of ${oversize[2]} bytes: pass --max-message-bytes ${oversize[2]} to find it before publishing`);
    }
    const exchangeGone = /NOT_FOUND - no exchange '([^']*)'/.exec(lost.message);
    if (exchangeGone) throw new UserError(`exchange ${exchangeGone[1]} disappeared while publishing (deleted?): declare it again (--declare) and run again with --resume`);
    if (++this.recoveriesWithoutProgress > 5) {
      throw new UserError(`${redact(lost.message)}; gave up after 5 reconnects without progress. ${this.confirmed} events were confirmed and checkpoint ${this.options.checkpoint} is saved: run again with --resume`);
    }
    this.reconnects++;
    const waiting = this.entries.reduce((s, e) => s + e.remaining, 0);
    this.log(`${redact(lost.message)}; reconnecting (${waiting} unconfirmed events will be sent again)`);
    const down = Date.now();
    await this.sink.close();
    await this.connect(false);
    this.broken = undefined;
    this.retries = [];
    this.log(`reconnected to RabbitMQ at ${this.sink.broker} after ${((Date.now() - down) / 1000).toFixed(1)} s`);
    for (const entry of this.entries) {
      const pending: number[] = [];
      for (let i = 0; i < entry.messages.length; i++) if (!entry.done[i]) pending.push(i);
      await this.publish(entry, pending);
      if (this.broken) return;
    }
  }

  // ── reporting ─────────────────────────────────────────────────────────────

  private liveState(): string {
    const inFlight = this.published - this.durable;
    const parts = [`in flight ${formatCount(inFlight)}/${formatCount(this.options.window)}`, `confirm ${formatMs(this.lastLatencyMs)}`];
    if (inFlight >= this.options.window * 0.9) parts.push('waiting for broker confirms');
    const blocked = this.sink?.blockedReason;
    if (blocked) parts.push(`broker blocked publishing: ${blocked}`);
    if (this.broken) parts.push('reconnecting');
    return parts.join(', ');
  }

  private summary(broker: string, resumed: boolean, p: ProgressSummary): SeedRabbitmqSummary {
    const o = this.options;
    const lat = this.latencies.percentiles();
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      command: 'seed rabbitmq',
      broker,
      exchange: o.exchange,
      payload: o.payload,
      checkpoint: o.checkpoint,
      resumed,
      complete: this.checkpoint.complete,
      events: p.count,
      bytes: p.bytes,
      seconds: round(p.seconds),
      eventsPerSecond: Math.round(p.perSecond),
      mbPerSecond: round(p.mbPerSecond),
      types: Object.fromEntries([...this.types].sort()),
      files: Object.entries(this.checkpoint.files).map(([file, f]) => ({ file, records: f.records, from: this.startPositions.get(file) ?? 0, next: f.next })),
      confirmLatencyMs: { p50: round(lat.p50), p95: round(lat.p95), p99: round(lat.p99), max: round(lat.max), batches: lat.count },
      batchSize: o.batchSize,
      window: o.window,
      channels: o.channels,
      connections: o.connections,
      reconnects: this.reconnects,
      nackRetries: this.nackRetried,
      unroutable: { policy: o.unroutable, events: this.unroutableCount, types: Object.fromEntries([...this.unroutableTypes].sort()) },
    };
  }
}

/** The AMQP message for one event: routing key and `type` = event type, `messageId` = event id. */
export function toAmqpMessage(event: EventRecord, root: protobuf.Root, payload: PayloadEncoding): AmqpMessage {
  const content = payload === 'json'
    ? Buffer.from(JSON.stringify(decodePayload(root, event)))
    : event.payload instanceof Buffer ? event.payload : Buffer.from(event.payload.buffer, event.payload.byteOffset, event.payload.byteLength);
  return {
    routingKey: event.type,
    content,
    options: {
      persistent: true,
      mandatory: true,
      messageId: event.id,
      type: event.type,
      timestamp: event.occurredAt ? epochSeconds(event.occurredAt) : undefined,
      contentType: payload === 'json' ? 'application/json' : 'application/x-protobuf',
      appId: 'ferry',
      headers: {
        occurredAt: event.occurredAt,
        aggregateType: event.aggregateType,
        aggregateId: event.aggregateId,
        sourceTable: event.source.table,
        sourceKey: event.source.key,
        sourceIndex: event.source.index,
        schemaVersion: event.schemaVersion,
        payloadType: event.payloadType,
      },
    },
  };
}

/**
 * Whole seconds since the epoch of an ISO-8601 time: Date.parse reads the envelope's own form
 * (timestampToIso) directly, a third of isoToTimestamp's cost per message; anything it cannot read
 * goes through isoToTimestamp, which says what is wrong.
 */
function epochSeconds(iso: string): number {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? isoToTimestamp(iso).seconds : Math.floor(ms / 1000);
}

class SeedProgress extends Progress {
  constructor(options: ConstructorParameters<typeof Progress>[0], private readonly extra: () => string) {
    super(options);
  }
  override line(): string {
    return `${super.line()}, ${this.extra()}`;
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Per-type counts and the rest of a summary as lines for stderr. */
export function summaryLines(s: SeedRabbitmqSummary): string[] {
  const lines = [
    `seed rabbitmq: ${s.events} events (${(s.bytes / 1e6).toFixed(1)} MB) to exchange ${s.exchange} at ${s.broker} in ${s.seconds} s: ${s.eventsPerSecond} events/s, ${s.mbPerSecond} MB/s`,
    `confirm latency per batch of ${s.batchSize}: p50 ${s.confirmLatencyMs.p50} ms, p95 ${s.confirmLatencyMs.p95} ms, p99 ${s.confirmLatencyMs.p99} ms, max ${s.confirmLatencyMs.max} ms (window ${s.window})`,
  ];
  for (const [type, n] of Object.entries(s.types)) lines.push(`  ${type}: ${n}`);
  if (s.unroutable.events) lines.push(`unroutable and dropped (--unroutable skip): ${s.unroutable.events} (${Object.entries(s.unroutable.types).map(([t, n]) => `${t} ${n}`).join(', ')})`);
  if (s.reconnects) lines.push(`reconnected ${s.reconnects} times; unconfirmed events were sent again (consumers drop duplicates by messageId)`);
  if (s.nackRetries) lines.push(`re-sent ${s.nackRetries} events the broker nacked`);
  if (s.resumed) lines.push(`resumed from checkpoint ${s.checkpoint}`);
  return lines;
}
