// Unit-testing a transform on a few rows, in vitest or any test runner:
//
//   const events = await transformRows(members, [{ Id: 1, Nickname: 'Åsa', ... }], { config: 'ferry.config.ts' });
//   expect(events[0]).toMatchObject({ type: 'MemberRegistered', payload: { nickname: 'Åsa' } });
//
// Events go through the same code as `ferry transform` (validation, envelope, encoding) and come
// back decoded: payload int64 fields as strings, timestamps as { seconds, nanos }, NULL as null.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ENVELOPE_TYPE, decodePayload, readEnvelope, type EventRecord } from '../dumps/index.ts';
import { loadConfig } from '../lib/config.ts';
import type { TransformDefinition } from '../api/transform.ts';
import { stripImports } from './inputs.ts';
import { TransformRuntime, lookupKey } from './runtime.ts';
import type { Row } from './rows.ts';

export { TransformRowError } from './runtime.ts';

export interface TestEvent extends Omit<EventRecord, 'payload'> {
  payload: Record<string, unknown>;
}

export interface TransformRowsOptions {
  /** Event .proto files… */
  eventSchemas?: string[];
  /** …or the config whose eventSchemas to use. */
  config?: string;
  /** Primary key columns of the rows (for event ids); default ['Id']. */
  primaryKey?: string[];
  /** Reference tables for ctx.lookup: rows and their primary key columns. */
  lookups?: Record<string, { primaryKey: string[]; rows: object[] }>;
  /** Table name in event sources; default the transform's table. */
  file?: string;
}

/** Runs `transform` on `rows` and returns the events; a bad row throws TransformRowError. */
export async function transformRows<R>(transform: TransformDefinition<R, any, any, any>, rows: R[], options: TransformRowsOptions): Promise<TestEvent[]> {
  let files = options.eventSchemas;
  if (!files && options.config) {
    const loaded = await loadConfig(options.config);
    files = (loaded.config.eventSchemas ?? []).map((f) => path.resolve(loaded.dir, f));
  }
  if (!files?.length) throw new Error('transformRows needs eventSchemas (paths of .proto files) or config');
  const eventProtos = await Promise.all(files.map(async (f) => stripImports(await readFile(f, 'utf8'))));
  const lookups = new Map<string, Map<string, Row>>();
  for (const [table, ref] of Object.entries(options.lookups ?? {})) {
    lookups.set(table, new Map(ref.rows.map((r) => [lookupKey(ref.primaryKey.map((k) => (r as Row)[k])), r as Row])));
  }
  const def = transform as TransformDefinition;
  const runtime = new TransformRuntime({ transforms: [def], eventProtos, lookups });
  const envelopeType = runtime.root.lookupType(ENVELOPE_TYPE);
  const keyFields = options.primaryKey ?? ['Id'];
  const events: TestEvent[] = [];
  rows.forEach((row, i) => {
    for (const key of keyFields) if (!(key in (row as object))) throw new Error(`row ${i} has no primary key column ${key}: pass primaryKey`);
    const built = runtime.transformRow(def, row as Row, { table: def.table, file: options.file ?? '(test rows)', block: 0, row: i }, keyFields);
    for (const b of built) {
      const event = readEnvelope(envelopeType.decodeDelimited(b.framed));
      const { payload: _bytes, ...rest } = event;
      events.push({ ...rest, payload: decodePayload(runtime.root, event) });
    }
  });
  return events;
}
