// The batch planner: the statements it plans give the same table as applying the operations one by
// one. The case here is the one the demo's news feed hit at quarter scale (2 of 8,302 "joined" items
// survived their member's deletion): an insert with a new column set that joins an earlier run.
import { describe, expect, it } from 'vitest';
import { CopyArena, planSteps, type EncodedOp } from '../seed/postgres-sink.ts';

const uuid = { name: 'actor_id', type: 'uuid', kind: 'text', quoted: 'actor_id', normalize: (t: string) => t.toLowerCase() } as const;
const kindColumn = { name: 'kind', type: 'text', kind: 'text', quoted: 'kind', normalize: (t: string) => t } as const;
const city = { name: 'city', type: 'text', kind: 'text', quoted: 'city', normalize: (t: string) => t } as const;
const refId = { name: 'ref_id', type: 'uuid', kind: 'text', quoted: 'ref_id', normalize: (t: string) => t.toLowerCase() } as const;
const table = { name: 'item', qualified: 'feed.item', columns: new Map(), shapes: new Map() };
const arena = new CopyArena();

function insert(columns: Array<typeof uuid | typeof kindColumn | typeof city>, values: string[]): EncodedOp {
  const start = arena.length;
  arena.writeString(values.join('\t') + '\n');
  return { kind: 'insert', table, shape: columns.map((c) => c.name).join(','), columns: columns as never, arena, start, end: arena.length };
}
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
});
