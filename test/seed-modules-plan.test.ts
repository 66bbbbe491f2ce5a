// The batch planner: the statements it plans give the same table as applying the operations one by
// one. The case here is the one the demo's news feed hit at quarter scale (2 of 8,302 "joined" items
// survived their member's deletion): an insert with a new column set that joins an earlier run.
import { describe, expect, it } from 'vitest';
import { planSteps } from '../seed/batch-planner.ts';
import { CopyArena } from '../seed/copy-text.ts';
import type { EncodedOp } from '../seed/module-ops.ts';

const uuid = { name: 'actor_id', type: 'uuid', kind: 'text', quoted: 'actor_id', normalize: (t: string) => t.toLowerCase() } as const;
const kindColumn = { name: 'kind', type: 'text', kind: 'text', quoted: 'kind', normalize: (t: string) => t } as const;
const city = { name: 'city', type: 'text', kind: 'text', quoted: 'city', normalize: (t: string) => t } as const;
const refId = { name: 'ref_id', type: 'uuid', kind: 'text', quoted: 'ref_id', normalize: (t: string) => t.toLowerCase() } as const;
const table = { name: 'item', qualified: 'feed.item', columns: new Map(), shapes: new Map() };
const itemId = { name: 'item_id', type: 'uuid', kind: 'text', quoted: 'item_id', normalize: (t: string) => t.toLowerCase() } as const;
const read = { name: 'read', type: 'boolean', kind: 'bool', quoted: 'read', normalize: (t: string) => t } as const;
const messages = { name: 'message', qualified: 'chat.message', columns: new Map(), shapes: new Map(), primaryKey: [itemId] };
const arena = new CopyArena();

type Column = typeof uuid | typeof kindColumn | typeof city | typeof itemId | typeof read;
function insert(columns: Column[], values: string[], into: object = table): EncodedOp {
  const start = arena.length;
  arena.writeString(values.join('\t') + '\n');
  return { kind: 'insert', table: into as never, shape: columns.map((c) => c.name).join(','), columns: columns as never, arena, start, end: arena.length };
}
const update = (key: Column, value: string, set: Column, to: string | null, into: object = messages): EncodedOp =>
  ({ kind: 'update', table: into as never, shape: `${key.name}|${set.name}`, keys: [key as never], sets: [set as never], values: [value, to] });
const remove = (key: typeof uuid | typeof refId, value: string): EncodedOp => ({ kind: 'delete', table, shape: key.name, keys: [key as never], values: [value] });

/** Applies planned steps to an in-memory table. */
function apply(steps: ReturnType<typeof planSteps>): Array<Record<string, string>> {
  let rows: Array<Record<string, string>> = [];
  for (const step of steps) {
    for (const op of step.ops as EncodedOp[]) {
      if (op.kind === 'insert') {
        const fields = op.arena.buf.toString('utf8', op.start, op.end - 1).split('\t');
        rows.push(Object.fromEntries(op.columns.map((c, i) => [c.name, fields[i]])));
      } else if (op.kind === 'delete') {
        rows = rows.filter((r) => r[op.keys[0].name] !== op.values[0]);
      } else {
        for (const r of rows) if (r[op.keys[0].name] === op.values[0]) r[op.sets[0].name] = op.values[1] ?? '\\N';
      }
    }
  }
  return rows;
}

describe('planSteps', () => {
  it('runs an insert of a new column set where it was planned: before a later delete of its row', () => {
    const ops = [
      insert([uuid, kindColumn], ['a', 'wrote_profile']), // opens insert run 1 (shape actor_id,kind)
      remove(uuid, 'b'), //                                  delete run 2 (member b deleted)
      insert([uuid, kindColumn, city], ['x', 'joined', 'Oulu']), // commutes with run 2: joins run 1, new shape
      remove(refId, 'photo-1'), //                           another delete shape: run 3
      remove(uuid, 'x'), //                                  joins run 2 (commutes with run 3)… which must run after the join of x
    ];
    const steps = planSteps(ops);
    const rows = apply(steps);
    expect(rows.map((r) => r.actor_id)).toEqual(['a']);
    // Still few statements: two COPY steps in the first run, the deletes grouped.
    expect(steps.map((s) => s.kind)).toEqual(['insert', 'insert', 'delete', 'delete']);
  });

  it('folds an update of a row inserted earlier in the batch (by primary key) into its COPY line', () => {
    const ops = [
      insert([itemId, read, city], ['m1', 'f', 'Jyväskylä'], messages), // the fields an update leaves are copied as bytes
      insert([itemId, read, city], ['m2', 'f', 'Turku'], messages),
      update(itemId, 'M1', read, 't'), // uuid keys compare case-insensitively
      update(itemId, 'm2', city, 'Tab\there'),
      update(itemId, 'm2', city, null),
    ];
    const steps = planSteps(ops);
    expect(steps.map((s) => s.kind)).toEqual(['insert']);
    expect(apply(steps)).toEqual([{ item_id: 'm1', read: 't', city: 'Jyväskylä' }, { item_id: 'm2', read: 'f', city: '\\N' }]);
  });

  it('adds a column the insert left to its default when an update of the row sets it', () => {
    const steps = planSteps([
      insert([itemId, city], ['m1', 'Oulu'], messages),
      insert([itemId, city], ['m2', 'Vaasa'], messages),
      update(itemId, 'm1', read, 't'),
    ]);
    expect(steps.map((s) => [s.kind, s.ops.length, (s.ops[0] as { columns: Array<{ name: string }> }).columns.map((c) => c.name).join(',')]))
      .toEqual([['insert', 1, 'item_id,city,read'], ['insert', 1, 'item_id,city']]);
    expect(apply(steps)).toEqual([{ item_id: 'm1', city: 'Oulu', read: 't' }, { item_id: 'm2', city: 'Vaasa' }]);
  });

  it('does not fold across a delete or an update it cannot fold, nor an update of rows from earlier batches', () => {
    const ops = [
      insert([itemId, read], ['m1', 'f'], messages),
      update(city as never, 'Oulu', read, 't'), // not by the primary key: may touch m1, so m1 is no longer folded into
      update(itemId, 'm1', read, 'f'),
      update(itemId, 'm9', read, 't'), // inserted by an earlier batch
    ];
    const steps = planSteps(ops);
    expect(steps.map((s) => s.kind)).toEqual(['insert', 'update', 'update']);
    expect(steps[2].ops).toHaveLength(2);
  });

  it('widens rows that updates were folded into to every column of known default: one COPY whatever the updates set', () => {
    const body = { name: 'body', type: 'text', kind: 'text', quoted: 'body', normalize: (t: string) => t } as const;
    const readD = { ...read, defaultText: 'false' };
    const cityD = { ...city, defaultText: null };
    const withDefaults = { name: 'message', qualified: 'chat.message', columns: new Map(), shapes: new Map(), primaryKey: [itemId] };
    for (const c of [itemId, body, readD, cityD]) withDefaults.columns.set(c.name, c);
    const steps = planSteps([
      insert([itemId, body as never], ['m1', 'a'], withDefaults),
      insert([itemId, body as never], ['m2', 'b'], withDefaults),
      insert([itemId, body as never], ['m3', 'c'], withDefaults),
      update(itemId, 'm1', readD as never, 't', withDefaults),
      update(itemId, 'm2', cityD as never, 'Oulu', withDefaults),
    ]);
    expect(steps.map((s) => [s.kind, s.ops.length, (s.ops[0] as { columns: Array<{ name: string }> }).columns.map((c) => c.name).join(',')]))
      .toEqual([['insert', 2, 'item_id,body,read,city'], ['insert', 1, 'item_id,body']]);
    expect(apply(steps)).toEqual([
      { item_id: 'm1', body: 'a', read: 't', city: '\\N' },
      { item_id: 'm2', body: 'b', read: 'false', city: 'Oulu' },
      { item_id: 'm3', body: 'c' },
    ]);
  });

  it('moves an insert past a delete on a column the row leaves out when that column defaults to NULL', () => {
    const nullRef = { ...refId, defaultsToNull: true };
    const del = (value: string): EncodedOp => ({ kind: 'delete', table, shape: 'ref_id', keys: [nullRef as never], values: [value] });
    const photo = (actor: string, ref: string) => insert([uuid, kindColumn, nullRef as never], [actor, 'new_photo', ref]);
    const steps = planSteps([
      insert([uuid, kindColumn], ['a', 'joined']),
      del('p1'),
      insert([uuid, kindColumn], ['b', 'joined']), // ref_id NULL: never matched by the delete
      photo('c', 'p2'),
      del('p2'), // deletes c's photo: the insert before it must stay before it
      photo('d', 'p3'),
    ]);
    expect(apply(steps).map((r) => r.actor_id)).toEqual(['a', 'b', 'd']);
    // One COPY per column set (d's photo, not deleted, joins the first run too), one DELETE.
    expect(steps.map((s) => s.kind)).toEqual(['insert', 'insert', 'delete']);
    // Unknown defaults stay where they were.
    expect(planSteps([insert([uuid, kindColumn], ['a', 'joined']), remove(refId, 'p1'), insert([uuid, kindColumn], ['b', 'joined'])]).map((s) => s.kind))
      .toEqual(['insert', 'delete', 'insert']);
  });

  it('groups interleaved updates that set different columns, and keeps those that set the same one in order', () => {
    const ops = [
      update(itemId, 'm1', read, 't'),
      update(itemId, 'm1', city, 'Oulu'),
      update(itemId, 'm2', read, 't'),
      update(itemId, 'm2', city, 'Vaasa'),
      update(itemId, 'm1', read, 'f'), // same column as the first: the later value wins
    ];
    const steps = planSteps(ops);
    expect(steps.map((s) => [s.kind, s.ops.length])).toEqual([['update', 2], ['update', 2]]);
    const start = () => [{ item_id: 'm1', read: 'f', city: '' }, { item_id: 'm2', read: 'f', city: '' }];
    const applyTo = (rows: Array<Record<string, string>>, list: EncodedOp[]) => {
      for (const op of list) if (op.kind === 'update') for (const r of rows) if (r.item_id === op.values[0]) r[op.sets[0].name] = op.values[1]!;
      return rows;
    };
    expect(applyTo(start(), steps.flatMap((s) => s.ops as EncodedOp[]))).toEqual(applyTo(start(), ops));
    // An update that sets a column another one matches on does not move past it.
    expect(planSteps([update(itemId, 'm1', read, 't'), update(read as never, 't', city, 'x'), update(itemId, 'm2', read, 't')]).map((s) => s.ops.length))
      .toEqual([1, 1, 1]);
  });
});
