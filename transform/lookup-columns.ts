// Which columns of a reference table the transforms read, so that only those are kept in memory:
// every worker holds every reference table, and at the example's fi scale whole dbo.Members rows
// were 41 MB of each worker's heap, for the one column read.
//
// Found in the source of each `run`, and narrowed only where the source proves it: the context
// parameter is used only in ctx.id(…), ctx.event(…), ctx.precise(…), ctx.source and ctx.lookup('table', …) with a
// literal table name, and each lookup of the table either reads one column at once
// (ctx.lookup(…)?.Column) or is only tested (!ctx.lookup(…)). Anything else (the context or a
// looked-up row handed elsewhere, a computed table name, `arguments`) keeps whole rows.
import type { TransformDefinition } from '../api/transform.ts';
import { functionParameters } from './rows.ts';

/** Columns of `table` that transforms read through ctx.lookup: undefined for whole rows, [] when rows are only tested. */
export function lookupColumns(transforms: readonly TransformDefinition[], table: string): string[] | undefined {
  const columns = new Set<string>();
  for (const t of transforms) {
    if (!t.lookups?.includes(table)) continue;
    const read = columnsReadIn(t.run.toString(), table);
    if (!read) return undefined;
    for (const c of read) columns.add(c);
  }
  return [...columns].sort();
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function columnsReadIn(source: string, table: string): string[] | undefined {
  const fn = functionParameters(source);
  if (!fn || /\barguments\b/.test(source)) return undefined;
  const ctx = fn.params[1];
  // No context parameter: nothing is looked up.
  if (ctx === undefined) return [];
  // A destructured context ({ lookup }) can be called anywhere.
  if (!IDENTIFIER.test(ctx)) return undefined;
  const body = source.slice(fn.bodyStart);
  const columns: string[] = [];
  for (const m of body.matchAll(new RegExp(`(?<![\\w$.])${ctx.replace(/\$/g, '\\$')}(?![\\w$])`, 'g'))) {
    const after = body.slice(m.index + ctx.length);
    if (/^\s*\.\s*(?:id|event|precise)\s*\(/.test(after) || /^\s*\.\s*source(?![\w$])/.test(after)) continue;
    const call = /^\s*\.\s*lookup\s*\(\s*(['"`])([^'"`\\${}]*)\1\s*[,)]/.exec(after);
    if (!call) return undefined;
    if (call[2] !== table) continue;
    const close = closingParen(after, after.indexOf('('));
    if (close < 0) return undefined;
    const read = /^\s*\??\.\s*([A-Za-z_$][\w$]*)/.exec(after.slice(close + 1));
    if (read) columns.push(read[1]);
    else if (!/!\s*$/.test(body.slice(0, m.index))) return undefined;
  }
  return columns;
}

/** Index of the parenthesis closing the one at `open`, skipping string literals; -1 if none. */
function closingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'" || c === '`') {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}
