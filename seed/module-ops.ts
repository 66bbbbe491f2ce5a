// A module's batch of row operations as the sink prepares them: the schema facts they refer to
// (tables, columns, primary keys, which values compare in memory), their validated column sets
// (shapes), and the encoded operations themselves.
import type { Row } from '../api/module.ts';
import type { Step } from './batch-planner.ts';
import type { CopyArena } from './copy-text.ts';

/** A handler's operation that cannot be applied as given (unknown table/column, bad value). */
export class OperationError extends Error {}

/** An operation on a table or column that the module's schema does not have. */
export class NotInSchemaError extends OperationError {}

export type ColumnKind = 'json' | 'bytea' | 'bool' | 'array' | 'other';

export interface ColumnInfo {
  name: string;
  /** `format_type` of the column, from the catalog: safe to use as a cast. */
  type: string;
  kind: ColumnKind;
  quoted: string;
  /** A canonical form of a value's text, for types where equal text ⇔ equal value; else absent. */
  normalize?: (text: string) => string | undefined;
  /** An insert that leaves the column out stores NULL (no default, identity or generation; not a
   * domain, which may have a default of its own). Absent: not known. */
  defaultsToNull?: boolean;
  /** What an insert that leaves the column out stores, when known: null (NULL) or the text of a
   * constant default. Absent: not known (a volatile or computed default, a domain). */
  defaultText?: string | null;
}

export interface TableInfo {
  name: string;
  /** Schema-qualified, quoted. */
  qualified: string;
  columns: Map<string, ColumnInfo>;
  /** Column-set signature → the columns, validated once. */
  shapes: Map<string, Shape>;
  /** The shape last asked for, per part of an operation (an update asks for a where and a set
   * shape in turn): rows of a stream usually all have the same keys. */
  lastShapes?: { row?: Shape; where?: Shape; set?: Shape };
  /** Primary key columns, in key order (none: no primary key). */
  primaryKey?: ColumnInfo[];
  /** Insert shape → update shape → the row an update of that shape folded into such an insert has. */
  folds?: Map<string, Map<string, FoldedRow>>;
}

/** The columns of an inserted row that an update was folded into (see withUpdate). */
export interface FoldedRow {
  columns: ColumnInfo[];
  shape: string;
  /** Per column: the index of the update's value for it in `sets`, or -1. */
  setIndex: number[];
  /** Per column the insert did not give: the COPY text of its default (where the update does not set it). */
  defaultTexts: Array<string | undefined>;
}

/** An operation with its values already encoded as PostgreSQL text (done while preparing a batch). */
export type EncodedOp =
  | { kind: 'insert'; table: TableInfo; shape: string; columns: ColumnInfo[]; arena: CopyArena; start: number; end: number; /** The value of a one-column primary key, when the row gives it (what insertedText would read from the line). */ pkText?: string | null }
  | { kind: 'delete'; table: TableInfo; shape: string; keys: ColumnInfo[]; values: Array<string | null> }
  | { kind: 'update'; table: TableInfo; shape: string; keys: ColumnInfo[]; sets: ColumnInfo[]; values: Array<string | null> }
  /** keys: the primary key columns (key order), sets: the other columns the row gives; values in that order.
   * Shaped as an update by primary key, so that it folds into an insert of the same row as one. */
  | { kind: 'upsert'; table: TableInfo; shape: string; keys: ColumnInfo[]; sets: ColumnInfo[]; values: Array<string | null> };

export interface ModuleBatch {
  file: string;
  /** Input positions covered: [fromRecord, toRecord) of `file`. */
  fromRecord: number;
  toRecord: number;
  events: number;
  ops: EncodedOp[];
  /** `planSteps(ops)`, when worked out ahead (while the module's previous batch is being written);
   * planned at write time otherwise. Must be dropped when `ops` change. */
  steps?: Step[];
}

export type EncodedInsert = Extract<EncodedOp, { kind: 'insert' }>;
export type EncodedDelete = Extract<EncodedOp, { kind: 'delete' }>;
export type EncodedUpdate = Extract<EncodedOp, { kind: 'update' }>;
export type EncodedUpsert = Extract<EncodedOp, { kind: 'upsert' }>;

export interface RowCounts {
  inserted: number;
  updated: number;
  deleted: number;
}

function columnsKey(row: Row): string {
  let key = '';
  for (const k in row) key += k + '\u0001';
  return key;
}

interface Shape {
  key: string;
  columns: ColumnInfo[];
  /** Upserts of this column set: the primary key, the other columns, the upsert's shape (made once). */
  upsert?: { keys: ColumnInfo[]; sets: ColumnInfo[]; shape: string };
  /** Updates with this `where` shape: set shape → the update's shape (made once: the planner hashes it). */
  updateShapes?: Map<Shape, string>;
}

export function updateShape(where: Shape, set: Shape): string {
  const shapes = (where.updateShapes ??= new Map());
  let shape = shapes.get(set);
  if (shape === undefined) shapes.set(set, (shape = `${where.key}|${set.key}`));
  return shape;
}

/** Upserts of `row`'s columns: checked once per column set (a primary key, all of it given). */
export function upsertShape(table: TableInfo, row: Shape): NonNullable<Shape['upsert']> {
  if (row.upsert) return row.upsert;
  const keys = table.primaryKey;
  if (!keys) throw new OperationError(`upsert into ${table.name} needs a primary key on the table (it has none): add one, or use insert() and update()`);
  const missing = keys.find((k) => !row.columns.includes(k));
  if (missing) throw new OperationError(`upsert into ${table.name} must give its primary key column ${missing.name}`);
  const sets = row.columns.filter((c) => !keys.includes(c));
  return (row.upsert = { keys, sets, shape: upsertShapeKey(keys, sets) });
}

/** The planner's shape of an upsert: its column list (keys, then sets), marked apart from inserts' and updates'. */
export function upsertShapeKey(keys: readonly ColumnInfo[], sets: readonly ColumnInfo[]): string {
  let shape = '\u0003';
  for (const c of keys) shape += `${c.name}\u0001`;
  for (const c of sets) shape += `${c.name}\u0001`;
  return shape;
}

export function shapeOf(table: TableInfo, row: Row, what: 'row' | 'where' | 'set'): Shape {
  if (!row || typeof row !== 'object') throw new OperationError(`${what} of ${table.name} is ${String(row)}, not an object`);
  const lastShapes = (table.lastShapes ??= {});
  const last = lastShapes[what];
  if (last) {
    // Same keys in the same order as last time: no signature string to build.
    const columns = last.columns;
    let i = 0;
    for (const k in row) {
      if (i >= columns.length || columns[i].name !== k) {
        i = -1;
        break;
      }
      i++;
    }
    if (i === columns.length) return last;
  }
  const key = columnsKey(row);
  let shape = table.shapes.get(key);
  if (!shape) {
    const columns = Object.keys(row).map((name) => {
      const c = table.columns.get(name);
      if (!c) throw new NotInSchemaError(`table ${table.name} has no column "${name}" (its columns: ${[...table.columns.keys()].join(', ')})`);
      return c;
    });
    if (columns.length === 0) throw new OperationError(`${what} of ${table.name} names no column`);
    table.shapes.set(key, (shape = { key, columns }));
  }
  lastShapes[what] = shape;
  return shape;
}

const INTEGER = /^\s*[+-]?\d+\s*$/;
const UUID = /^\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;

/** Types whose values the planner can compare in memory (deterministic text equality or a canonical form). */
export const NORMALIZERS: Record<string, (text: string) => string | undefined> = {
  text: (t) => t,
  varchar: (t) => t,
  uuid: (t) => (isCanonicalUuid(t) ? t : UUID.exec(t)?.slice(1).join('-').toLowerCase()),
  int2: (t) => (INTEGER.test(t) ? BigInt(t.trim()).toString() : undefined),
  int4: (t) => (INTEGER.test(t) ? BigInt(t.trim()).toString() : undefined),
  int8: (t) => (INTEGER.test(t) ? BigInt(t.trim()).toString() : undefined),
  bool: (t) => (t === 't' || t === 'true' ? 't' : t === 'f' || t === 'false' ? 'f' : undefined),
};

/** Lowercase 8-4-4-4-12 hex: the form the uuid normalizer gives (checked without a regular expression). */
function isCanonicalUuid(t: string): boolean {
  if (t.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = t.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}
