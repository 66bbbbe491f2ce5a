// The module sink's batch planner: folds updates into the inserts of the same batch and groups a
// batch's operations into as few COPY / set-based statements as give the same tables as applying
// them one by one.
import { copyEscape, copyUnescape } from './copy-text.ts';
import { type ColumnInfo, type EncodedDelete, type EncodedInsert, type EncodedOp, type EncodedUpdate, type EncodedUpsert, type FoldedRow, type TableInfo, upsertShapeKey } from './module-ops.ts';

export type Step =
  | { kind: 'insert'; table: TableInfo; ops: EncodedInsert[] }
  | { kind: 'delete'; table: TableInfo; ops: EncodedDelete[] }
  | { kind: 'update'; table: TableInfo; ops: EncodedUpdate[] }
  | { kind: 'upsert'; table: TableInfo; ops: EncodedUpsert[] };

interface Run {
  kind: EncodedOp['kind'];
  /** Inserts: one step per column set; deletes/updates/upserts: a single shape. */
  steps: Map<string, Step>;
  /** Deletes/updates/upserts (whose `where` is the primary key): the `where` columns, the normalized keys matched (undefined: not comparable here),
   * and per subset of those columns (bit mask) the set of projected keys, built when first asked. */
  whereColumns?: ColumnInfo[];
  keys?: Array<Array<string | undefined>>;
  keyIndexes?: Map<number, { values: Set<string>; unknown: boolean }>;
  /** Updates: the columns set; key → index in the step, so a later update of a row replaces the earlier one. */
  setColumns?: Set<string>;
  updateAt?: Map<string, number>;
  /** Inserts/upserts: per `where` column set asked about, the written rows' normalized values by known-column subset. */
  projections?: Map<string, RowProjection>;
}

interface RowProjection {
  columns: ColumnInfo[];
  bySubset: Map<number, Set<string>>;
  /** Some row has no comparable value in these columns: it may match anything. */
  unknown: boolean;
}

/** How far back an operation may look for a statement to join. */
const LOOKBACK_RUNS = 8;

/**
 * Groups a batch's operations into few statements that give the same result as applying them one by
 * one in event order. Operations on different tables commute. On one table an operation joins an
 * earlier statement of its kind only when it provably commutes with every statement in between:
 * an insert moves past a delete/update only if its row cannot match their keys (compared in memory
 * for text, uuid, integer and boolean columns; otherwise assumed to match), a delete moves past an
 * update that does not set its key columns, and so on. So an insert then a delete of the same row
 * ends deleted, while the usual "insert into feed, delete other rows from feed" stream still
 * becomes one COPY and one DELETE. Foreign keys between a module's tables should be DEFERRABLE:
 * statements on different tables may run in another order than their events.
 */
export function planSteps(batchOps: readonly EncodedOp[]): Step[] {
  const ops = foldUpdates(batchOps);
  // Runs execute in the order they were opened, each with all its steps: an insert with a new column
  // set that joins an earlier run must run there, before the deletes it was found to commute with,
  // not after everything planned so far.
  const order: Run[] = [];
  const runsOf = new Map<TableInfo, Run[]>();
  for (const op of ops) {
    let runs = runsOf.get(op.table);
    if (!runs) runsOf.set(op.table, (runs = []));
    let target: Run | undefined;
    for (let j = runs.length - 1; j >= 0 && j >= runs.length - LOOKBACK_RUNS; j--) {
      const run = runs[j];
      if (run.kind === op.kind && (op.kind === 'insert' || run.steps.has(op.shape))) {
        target = run;
        break;
      }
      if (!commutes(op, run)) break;
    }
    if (!target) {
      target = { kind: op.kind, steps: new Map() };
      if (op.kind !== 'insert') {
        target.whereColumns = op.keys;
        target.keys = [];
      }
      if (op.kind === 'update' || op.kind === 'upsert') {
        target.setColumns = new Set(op.sets.map((c) => c.name));
        target.updateAt = new Map();
      }
      runs.push(target);
      order.push(target);
    }
    let step = target.steps.get(op.shape);
    if (!step) {
      step = { kind: op.kind, table: op.table, ops: [] } as Step;
      target.steps.set(op.shape, step);
    }
    if (op.kind === 'insert' || op.kind === 'upsert') {
      if (target.projections) for (const p of target.projections.values()) addProjection(p, op);
    }
    if (op.kind !== 'insert') {
      const tuple = op.keys.map((c, i) => c.normalize?.(op.values[i]!));
      target.keys!.push(tuple);
      if (target.keyIndexes) for (const [mask, index] of target.keyIndexes) addKey(index, tuple, mask);
      const key = tuple.every((v) => v !== undefined) ? tuple.join('\u0001') : undefined;
      if (op.kind === 'update' || op.kind === 'upsert') {
        // Same row, same columns: the later update (upsert) wins, as it would one by one (and ON
        // CONFLICT needs one row per key in a statement). Keys of types without a canonical form
        // here are compared as given: write them the same way every time.
        const exact = key ?? op.values.slice(0, op.keys.length).join('\u0001');
        const at = target.updateAt!.get(exact);
        if (at !== undefined) {
          (step.ops as Array<EncodedUpdate | EncodedUpsert>)[at] = op;
          continue;
        }
        target.updateAt!.set(exact, step.ops.length);
      }
    }
    (step.ops as EncodedOp[]).push(op);
  }
  return order.flatMap((run) => [...run.steps.values()]);
}

/**
 * An update of a row that the same batch inserted, by its primary key, is folded into that insert:
 * the COPY carries the row as it ends up, and the UPDATE (far more work for PostgreSQL than the
 * COPY line: a new row version and index entries) is not sent. Only when nothing in between could
 * touch the row: a delete on the table, or an update that is not by the primary key, stops folding
 * into the rows inserted before it. The batch's operations are not changed (a retry plans them again).
 */
function foldUpdates(ops: readonly EncodedOp[]): readonly EncodedOp[] {
  const updated = new Set<TableInfo>();
  for (const op of ops) if ((op.kind === 'update' || op.kind === 'upsert') && op.table.primaryKey) updated.add(op.table);
  if (updated.size === 0) return ops;
  const out: Array<EncodedOp | undefined> = ops.slice();
  const inserted = new Map<TableInfo, Map<string, number>>();
  let folded = 0;
  for (let i = 0; i < out.length; i++) {
    const op = out[i]!;
    const pk = op.table.primaryKey;
    if (!pk || op.kind === 'delete') {
      inserted.delete(op.table);
      continue;
    }
    if (op.kind === 'upsert') {
      // Into the batch's insert or upsert of the same row, which it updates; else it touches only
      // its own row (a key no earlier row here has), and is where later updates of that row fold.
      const key = insertedKey(op, pk);
      if (key === undefined) continue;
      let rows = inserted.get(op.table);
      if (!rows) inserted.set(op.table, (rows = new Map()));
      const at = rows.get(key);
      if (at === undefined) {
        rows.set(key, i);
        continue;
      }
      const into = out[at]!;
      out[at] = into.kind === 'upsert' ? mergeUpserts(into, op) : withUpdate(into as EncodedInsert, op);
      out[i] = undefined;
      folded++;
      continue;
    }
    if (op.kind === 'insert') {
      if (!updated.has(op.table)) continue; // no update by key of this table in the batch: nothing to fold
      const key = insertedKey(op, pk);
      if (key !== undefined) {
        let rows = inserted.get(op.table);
        if (!rows) inserted.set(op.table, (rows = new Map()));
        rows.set(key, i);
      }
      continue;
    }
    const at = foldTarget(op, pk, inserted.get(op.table));
    // By the whole primary key and none of this batch's rows: it updates another row, which
    // leaves these alone. Not by the key: it may touch any of them.
    if (at === 'other') continue;
    if (at === undefined) {
      inserted.delete(op.table);
      continue;
    }
    const into = out[at]!;
    out[at] = into.kind === 'upsert' ? mergeUpserts(into, op) : withUpdate(into as EncodedInsert, op);
    out[i] = undefined;
    folded++;
  }
  return folded ? out.filter((op): op is EncodedOp => op !== undefined) : ops;
}

/**
 * An upsert followed by an update (by primary key) or an upsert of the same row, as one upsert: the
 * columns of both, the later one's values where both set a column. (If the row existed, both set
 * their columns on it; if not, the first inserted it and the second set its columns.) Columns
 * neither gives are not added: on an existing row they keep their values.
 */
function mergeUpserts(first: EncodedUpsert, then: EncodedUpdate | EncodedUpsert): EncodedUpsert {
  const sets = first.sets.slice();
  const values = first.values.slice();
  for (let j = 0; j < then.sets.length; j++) {
    const value = then.values[then.keys.length + j];
    const k = sets.indexOf(then.sets[j]);
    if (k >= 0) values[first.keys.length + k] = value;
    else {
      sets.push(then.sets[j]);
      values.push(value);
    }
  }
  const shape = sets.length === first.sets.length ? first.shape : upsertShapeKey(first.keys, sets);
  return { ...first, sets, values, shape };
}

/** The inserted row's primary key as foldTarget makes an update's: normalized texts joined by U+0001; undefined when a part is not known. */
function insertedKey(op: EncodedInsert | EncodedUpsert, pk: readonly ColumnInfo[]): string | undefined {
  let key = '';
  for (let i = 0; i < pk.length; i++) {
    const v = insertedText(op, pk[i]);
    const n = v === null || v === undefined ? undefined : pk[i].normalize?.(v);
    if (n === undefined) return undefined;
    key = i === 0 ? n : `${key}\u0001${n}`;
  }
  return key;
}

/**
 * The index of the insert an update can be folded into (by the whole primary key, setting no key
 * column); 'other' when it is such an update of a row this batch did not insert; else undefined.
 */
function foldTarget(op: EncodedUpdate, pk: ColumnInfo[], rows: Map<string, number> | undefined): number | 'other' | undefined {
  if (op.keys.length !== pk.length) return undefined;
  // The key as insertedKey makes it (a one-column key is the value's own string: no array, no join).
  let key = '';
  for (let i = 0; i < pk.length; i++) {
    const k = op.keys.indexOf(pk[i]);
    const value = k < 0 ? null : op.values[k];
    const n = value === null ? undefined : pk[i].normalize?.(value);
    if (n === undefined) return undefined;
    key = i === 0 ? n : `${key}\u0001${n}`;
  }
  for (const column of op.sets) if (pk.includes(column)) return undefined;
  return rows?.get(key) ?? 'other';
}

/**
 * The insert with the update's (or a later upsert's) values in its COPY line (a new line at the end of the same arena).
 * When the update sets a column the insert left to its default, the row is widened to every column
 * whose default is known here (given as that value), so the rows that updates were folded into share
 * one column set, one COPY, whichever columns their updates set; a column of unknown default that an
 * update sets is added on its own (another column set: another COPY step).
 */
function withUpdate(insert: EncodedInsert, update: EncodedUpdate | EncodedUpsert): EncodedInsert {
  const folded = foldedRow(insert, update);
  const { columns, setIndex, defaultTexts } = folded;
  // The fields the update keeps are copied as bytes: decoding the line to split it and encoding it
  // again cost more than the rest of the fold.
  const arena = insert.arena;
  const start = arena.length;
  const kept = insert.columns.length;
  // Start of the insert's field c (a tab never occurs inside a field: COPY escapes it).
  let from = insert.start;
  for (let c = 0; c < columns.length; c++) {
    if (c) arena.writeByte(9);
    const j = setIndex[c];
    let text: string | undefined;
    if (j >= 0) {
      const value = update.values[update.keys.length + j];
      text = value === null ? '\\N' : copyEscape(value);
    } else if (c >= kept) text = defaultTexts[c];
    if (c < kept) {
      const to = c === kept - 1 ? insert.end - 1 : arena.buf.indexOf(9, from);
      if (text === undefined) arena.writeOwnBytes(from, to);
      else arena.writeString(text);
      from = to + 1;
    } else arena.writeString(text!);
  }
  arena.writeByte(10);
  return { ...insert, columns: folded.columns, shape: folded.shape, start, end: arena.length };
}

/** The columns of an insert with an update folded into it: worked out once per insert shape and update shape. */
function foldedRow(insert: EncodedInsert, update: EncodedUpdate | EncodedUpsert): FoldedRow {
  const byInsert = (insert.table.folds ??= new Map());
  let byUpdate = byInsert.get(insert.shape);
  if (!byUpdate) byInsert.set(insert.shape, (byUpdate = new Map()));
  let folded = byUpdate.get(update.shape);
  if (folded) return folded;
  let columns = insert.columns;
  let shape = insert.shape;
  const defaultTexts: Array<string | undefined> = new Array(columns.length);
  if (update.sets.some((c) => !columns.includes(c))) {
    columns = [...columns];
    for (const c of insert.table.columns.values()) {
      if (c.defaultText === undefined || columns.includes(c)) continue;
      columns.push(c);
      defaultTexts.push(c.defaultText === null ? '\\N' : copyEscape(c.defaultText));
      shape += `\u0002${c.name}`;
    }
  }
  for (const column of update.sets) {
    if (columns.includes(column)) continue;
    if (columns === insert.columns) columns = [...columns];
    columns.push(column);
    defaultTexts.push(undefined);
    shape += `\u0002${column.name}`;
  }
  const setIndex = columns.map((c) => update.sets.indexOf(c));
  folded = { columns, shape, setIndex, defaultTexts };
  byUpdate.set(update.shape, folded);
  return folded;
}

/** Whether applying `op` before the (earlier) operations of `run` gives the same table. */
function commutes(op: EncodedOp, run: Run): boolean {
  if (op.kind === 'insert') {
    if (run.kind === 'insert') return true;
    return !rowMayMatch(op, run);
  }
  if (run.kind === 'insert') return !insertsMayMatch(run, op);
  if (op.kind === 'upsert' || run.kind === 'upsert') {
    // An upsert writes the one row with its primary key, whose other columns are not known before
    // it: it commutes with what provably matches other keys (compared on the key columns only) and
    // moves no row to a key (sets no key column).
    const keys = op.table.primaryKey!;
    if (op.kind === 'upsert') return !(run.kind === 'update' && keys.some((k) => run.setColumns!.has(k.name))) && !rowMayMatch(op, run);
    return !(op.kind === 'update' && op.sets.some((c) => keys.includes(c))) && !insertsMayMatch(run, op);
  }
  if (op.kind === 'delete') {
    if (run.kind === 'delete') return true;
    return !op.keys.some((k) => run.setColumns!.has(k.name));
  }
  if (run.kind === 'delete') return !run.whereColumns!.some((k) => op.sets.some((c) => c.name === k.name));
  // Two updates commute when they set different columns, neither of which the other matches on:
  // each row ends with both values whatever the order (the values are constants, not expressions).
  const sets = run.setColumns!;
  if (op.sets.some((c) => sets.has(c.name)) || op.keys.some((k) => sets.has(k.name))) return false;
  return !run.whereColumns!.some((k) => op.sets.some((c) => c.name === k.name));
}

/** Could this inserted (upserted) row be one that the run's deletes/updates/upserts match? (One provably different column is enough.) */
function rowMayMatch(op: EncodedInsert | EncodedUpsert, run: Run): boolean {
  let mask = 0;
  let key = '';
  const columns = run.whereColumns!;
  for (let c = 0; c < columns.length; c++) {
    const v = insertedText(op, columns[c]);
    if (v === undefined) continue; // the column's default: not known here
    if (v === null) return false; // = never matches NULL
    const n = columns[c].normalize?.(v);
    if (n === undefined) continue;
    key = mask === 0 ? n : `${key}\u0001${n}`;
    mask |= 1 << c;
  }
  if (mask === 0) return true;
  run.keyIndexes ??= new Map();
  let index = run.keyIndexes.get(mask);
  if (!index) {
    index = { values: new Set(), unknown: false };
    for (const tuple of run.keys!) addKey(index, tuple, mask);
    run.keyIndexes.set(mask, index);
  }
  return index.unknown || index.values.has(key);
}

function addKey(index: { values: Set<string>; unknown: boolean }, tuple: Array<string | undefined>, mask: number): void {
  let key: string | undefined;
  for (let c = 0; c < tuple.length; c++) {
    if (!(mask & (1 << c))) continue;
    if (tuple[c] === undefined) {
      index.unknown = true;
      return;
    }
    key = key === undefined ? tuple[c] : `${key}\u0001${tuple[c]}`;
  }
  index.values.add(key!);
}

/** Could a row inserted (upserted) by the run be matched by this delete/update/upsert? */
function insertsMayMatch(run: Run, op: EncodedDelete | EncodedUpdate | EncodedUpsert): boolean {
  const tuple = op.keys.map((c, i) => c.normalize?.(op.values[i]!));
  const shape = op.keys.map((k) => k.name).join('\u0001');
  run.projections ??= new Map();
  let p = run.projections.get(shape);
  if (!p) {
    p = { columns: op.keys, bySubset: new Map(), unknown: false };
    for (const step of run.steps.values()) for (const row of step.ops as Array<EncodedInsert | EncodedUpsert>) addProjection(p, row);
    run.projections.set(shape, p);
  }
  if (p.unknown) return true;
  for (const [mask, values] of p.bySubset) {
    let key: string | undefined;
    for (let c = 0; c < tuple.length; c++) {
      if (!(mask & (1 << c))) continue;
      if (tuple[c] === undefined) return true;
      key = key === undefined ? tuple[c] : `${key}\u0001${tuple[c]}`;
    }
    if (values.has(key!)) return true;
  }
  return false;
}

/** The text an insert gives a column (null: NULL); undefined when it is left to a default not known here. */
function insertedText(op: EncodedInsert | EncodedUpsert, column: ColumnInfo): string | null | undefined {
  // An upserted row: only its key is known (its other columns may be an existing row's).
  if (op.kind === 'upsert') {
    const k = op.keys.indexOf(column);
    return k < 0 ? undefined : op.values[k];
  }
  if (op.pkText !== undefined && column === op.table.primaryKey?.[0]) return op.pkText;
  const i = op.columns.indexOf(column);
  if (i < 0) return column.defaultsToNull ? null : undefined;
  // Only the one field's bytes are decoded (a tab never occurs inside a field: COPY escapes it).
  const buf = op.arena.buf;
  const last = op.end - 1;
  let from = op.start;
  for (let k = 0; k < i; k++) from = buf.indexOf(9, from) + 1;
  let to = i === op.columns.length - 1 ? last : buf.indexOf(9, from);
  if (to < 0 || to > last) to = last;
  const field = buf.toString('utf8', from, to);
  return field === '\\N' ? null : copyUnescape(field);
}

function addProjection(p: RowProjection, row: EncodedInsert | EncodedUpsert): void {
  if (p.unknown) return;
  let mask = 0;
  let key = '';
  for (let c = 0; c < p.columns.length; c++) {
    const v = insertedText(row, p.columns[c]);
    if (v === undefined) continue;
    if (v === null) return; // never matched by =
    const n = p.columns[c].normalize?.(v);
    if (n === undefined) continue;
    key = mask === 0 ? n : `${key}\u0001${n}`;
    mask |= 1 << c;
  }
  if (mask === 0) {
    p.unknown = true;
    return;
  }
  let values = p.bySubset.get(mask);
  if (!values) p.bySubset.set(mask, (values = new Set()));
  values.add(key);
}
