// The transform part of ferry.config.ts: what a user writes, and what ferry hands to it.
//
// Types flow from the dumps and the .proto files: `ferry transform codegen` writes `Tables` (one
// row interface per table dump) and `Events` (one payload interface per event message), and
// `Transform<'dbo.Members'>` = TransformDefinition<Tables['dbo.Members'], Events, 'dbo.Members', Tables>.
// With those, a transform that names an unknown event, misses a required payload field, or gives
// a field the wrong type does not compile.

import type { PreciseTimestamp } from '../lib/precise-timestamp.ts';

export type { PreciseTimestamp } from '../lib/precise-timestamp.ts';

/** A value that can be part of a key: for ctx.id and ctx.lookup. */
export type KeyValue = string | number | bigint | boolean | Date | Uint8Array | null;

export interface EventMeta {
  /**
   * When it happened (from the row): a Date (millisecond precision), an ISO-8601 string with zone (up
   * to ns), or ctx.precise(row, 'Column') (the dump's full precision).
   */
  occurredAt: Date | string | PreciseTimestamp;
  /** The stream the event belongs to, e.g. 'member'. Defaults to the transform's `aggregateType`. */
  aggregateType?: string;
  /** The aggregate's id, usually ctx.id('member', row.Id). */
  aggregateId: string;
  /** Payload schema version; 1 unless given. */
  schemaVersion?: number;
}

declare const emittedEvent: unique symbol;

/** An event as a transform returns it; made only by ctx.event, so its payload was type-checked. */
export interface EmittedEvent<Type extends string = string> {
  readonly [emittedEvent]?: Type;
  readonly type: Type;
  readonly payload: object;
  readonly meta: EventMeta;
}

/** Where the row being transformed is, for messages (ferry reports it by itself on errors). */
export interface RowSource {
  table: string;
  file: string;
  block: number;
  /** Index of the row in its block. */
  row: number;
}

export interface TransformContext<Events = any, Tables = any> {
  /**
   * A deterministic UUID (v5, fixed ferry namespace) for a legacy entity: the same on every run and
   * machine, so ctx.id('member', row.SenderId) in one transform equals ctx.id('member', row.Id) in
   * another. Numbers and bigints with the same value give the same id.
   */
  id(kind: string, ...key: KeyValue[]): string;
  /** Builds one event of a type declared in the event schemas. */
  event<K extends keyof Events & string>(type: K, payload: Events[K], meta: EventMeta): EmittedEvent;
  /** A row of a reference table (declared in `lookups`) by its primary key, loaded in memory before the run. */
  lookup<T extends keyof Tables & string>(table: T, ...key: KeyValue[]): Tables[T] | undefined;
  /**
   * A datetime column of the row being transformed with the dump's full precision (PostgreSQL:
   * microseconds, SQL Server datetime2: 100 ns), which `row.Column`, a Date, cuts to milliseconds;
   * null when it is NULL. Give it where a Date goes: a payload's google.protobuf.Timestamp field, or
   * `occurredAt`; module handlers then get the full value and write it into timestamp(tz) columns.
   * Of other rows (ctx.lookup, hand-made rows in tests) it reads the value there: a Date (ms), ISO
   * text (up to ns) or a PreciseTimestamp.
   */
  precise<R extends object>(row: R, column: keyof R & string): PreciseTimestamp | null;
  readonly source: RowSource;
}

export type TransformResult = EmittedEvent | readonly EmittedEvent[] | null | undefined | void;

export interface TransformDefinition<Row = any, Events = any, Table extends string = string, Tables = any> {
  /** Source table, `schema.table`, as named in the table dumps. */
  table: Table;
  /**
   * Columns the transform reads, checked against the dump before any work is done. When left out,
   * ferry finds them in the source of `run` (accesses like `row.Name` and destructuring of `row`).
   */
  columns?: ReadonlyArray<keyof Row & string>;
  /**
   * Reference tables loaded into memory before the run, for ctx.lookup (keep them small). Of each,
   * only the columns read straight off ctx.lookup(…)?.Column are kept when the source of `run`
   * shows that nothing else is read (see lookup-columns.ts); otherwise whole rows.
   */
  lookups?: ReadonlyArray<keyof Tables & string>;
  /** Default aggregate type of the events this transform builds. */
  aggregateType?: string;
  /** Turns one row into zero, one or many events. Pure: no I/O, no clocks, no randomness. */
  run(row: Row, ctx: TransformContext<Events, Tables>): TransformResult;
}

/**
 * Identity function that gives a transform its types. With the generated types:
 *   defineTransform<Transform<'dbo.Members'>>({ table: 'dbo.Members', run(row, ctx) { ... } })
 * or, without them, defineTransform<TransformDefinition<MyRow, MyEvents>>({ ... }).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function defineTransform<D extends TransformDefinition<any, any, any, any>>(definition: D): D {
  return definition;
}
