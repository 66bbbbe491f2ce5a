// Which reference-table columns workers keep in memory: narrowed only where a transform's source
// proves it reads nothing else.
import { describe, expect, it } from 'vitest';
import type { TransformDefinition } from '../api/transform.ts';
import { lookupColumns } from '../transform/lookup-columns.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
const MEMBERS = 'dbo.Members';
const transform = (run: (row: any, ctx: any) => unknown, lookups = [MEMBERS]): TransformDefinition => ({ table: 'dbo.T', lookups, run: run as TransformDefinition['run'] });
const helper = (ctx: any, id: number) => ctx.lookup(MEMBERS, id);

describe('lookupColumns', () => {
  it('keeps the columns read straight off a lookup, and nothing for rows only tested', () => {
    const reads = transform((row, ctx) => ctx.event('E', { at: row.At ?? ctx.lookup('dbo.Members', row.MemberId)?.RegisteredAt, city: ctx.lookup("dbo.Members", row.MemberId).City }, { occurredAt: row.At, aggregateId: ctx.id('member', row.MemberId) }));
    const tests = transform((row, ctx) => {
      if (!ctx.lookup('dbo.Members', row.A) || !ctx.lookup('dbo.Members', row.B)) throw new Error(`row ${ctx.source.row}: no such member`);
      return ctx.event('E', {}, { occurredAt: row.At, aggregateId: ctx.id('member', row.A) });
    });
    expect(lookupColumns([reads], MEMBERS)).toEqual(['City', 'RegisteredAt']);
    expect(lookupColumns([tests], MEMBERS)).toEqual([]);
    expect(lookupColumns([reads, tests], MEMBERS)).toEqual(['City', 'RegisteredAt']);
    // Lookups of other tables and transforms that do not declare the table do not count.
    expect(lookupColumns([transform((row, ctx) => ctx.lookup('dbo.Cities', row.C)), transform((row) => row, [])], MEMBERS)).toEqual([]);
    expect(lookupColumns([transform((row) => row.A)], MEMBERS)).toEqual([]);
  });

  it('keeps whole rows whenever the source does not prove which columns are read', () => {
    const wholeRows = [
      // The looked-up row kept in a variable.
      (row: any, ctx: any) => {
        const member = ctx.lookup('dbo.Members', row.A);
        return member?.Nickname;
      },
      // The context handed to a helper, which may look anything up.
      (row: any, ctx: any) => helper(ctx, row.A)?.Nickname,
      // A computed table name.
      (row: any, ctx: any) => ctx.lookup(row.Table, row.A)?.Nickname,
      (row: any, ctx: any) => ctx.lookup(`dbo.${row.Name}`, row.A)?.Nickname,
      // ctx.lookup taken as a value.
      (row: any, ctx: any) => [row.A].map(ctx.lookup.bind(ctx, 'dbo.Members')),
      // A destructured context.
      (row: any, { lookup }: any) => lookup('dbo.Members', row.A)?.Nickname,
      // A looked-up row passed on whole.
      (row: any, ctx: any) => JSON.stringify(ctx.lookup('dbo.Members', row.A)),
    ];
    for (const run of wholeRows) expect(lookupColumns([transform(run)], MEMBERS), run.toString()).toBeUndefined();
    // One transform needing whole rows decides for the table.
    expect(lookupColumns([transform((row, ctx) => ctx.lookup('dbo.Members', row.A)?.City), transform(wholeRows[0])], MEMBERS)).toBeUndefined();
  });
});
