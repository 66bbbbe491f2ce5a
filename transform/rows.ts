// Table rows as transforms see them: decoded dump records turned into plain objects with JS types.
//   int64 columns → bigint; datetimes (google.protobuf.Timestamp) → Date (millisecond precision: the
//   full value through ctx.precise, see runtime.ts);
//   decimals/money → exact strings; uuid → lowercase string; bytes → Uint8Array; NULL → null.
import protobuf from 'protobufjs';
import type { ColumnInfo } from '../dumps/index.ts';
import { redact } from '../lib/redact.ts';

export type Row = Record<string, unknown>;
export type RowConverter = (message: protobuf.Message) => Row;

const LONG_TYPES = new Set(['int64', 'sint64', 'sfixed64']);
const ULONG_TYPES = new Set(['uint64', 'fixed64']);

/** What a field holds in a row, for the converter and for generated types. */
export type FieldKind = 'bigint' | 'ubigint' | 'date' | 'number' | 'string' | 'boolean' | 'bytes' | 'other';

export function fieldKind(field: protobuf.Field): FieldKind {
  field.resolve();
  if (LONG_TYPES.has(field.type)) return 'bigint';
  if (ULONG_TYPES.has(field.type)) return 'ubigint';
  if (field.resolvedType?.fullName === '.google.protobuf.Timestamp') return 'date';
  if (field.type === 'string') return 'string';
  if (field.type === 'bool') return 'boolean';
  if (field.type === 'bytes') return 'bytes';
  if (['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'double', 'float'].includes(field.type)) return 'number';
  return 'other';
}

export function longToBigint(v: unknown, unsigned: boolean): bigint | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'string') return BigInt(v);
  const l = v as { low: number; high: number };
  const low = l.low >>> 0;
  // Most values fit in a double exactly: one BigInt instead of four.
  const high = unsigned ? l.high >>> 0 : l.high | 0;
  if (high >= -0x200000 && high < 0x200000) return BigInt(high * 4294967296 + low);
  const big = (BigInt(l.high >>> 0) << 32n) | BigInt(low);
  return unsigned ? big : BigInt.asIntN(64, big);
}

export function timestampToDate(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  const t = v as { seconds: number | { toNumber(): number }; nanos: number };
  const seconds = typeof t.seconds === 'number' ? t.seconds : t.seconds.toNumber();
  return new Date(seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6));
}

/**
 * A fast converter for one record type: a generated function that builds each row with a fixed
 * shape (unset proto3 `optional` fields are null on the message prototype, so `?? null` keeps NULL).
 */
export function rowConverter(type: protobuf.Type): RowConverter {
  const helpers = { longToBigint, timestampToDate };
  const parts = type.fieldsArray.map((field) => {
    const key = JSON.stringify(field.name);
    const get = `m[${key}]`;
    switch (fieldKind(field)) {
      case 'bigint': return `${key}: h.longToBigint(${get}, false)`;
      case 'ubigint': return `${key}: h.longToBigint(${get}, true)`;
      case 'date': return `${key}: h.timestampToDate(${get})`;
      default: return `${key}: ${get} ?? null`;
    }
  });
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const build = new Function('h', `return function convertRow(m) { return { ${parts.join(', ')} }; };`) as (h: typeof helpers) => RowConverter;
  return build(helpers);
}

/** Primary key values as the envelope's JSON array: bigints as bare numbers, dates as ISO strings, bytes as base64. */
export function keyJson(row: Row, keyFields: readonly string[]): string {
  // Most keys are one column: no array to map and join (this runs for every row).
  if (keyFields.length === 1) return `[${jsonValue(row[keyFields[0]])}]`;
  return `[${keyFields.map((f) => jsonValue(row[f])).join(',')}]`;
}

function jsonValue(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (v instanceof Date) return JSON.stringify(v.toISOString());
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v.buffer, v.byteOffset, v.length).toString('base64'));
  return JSON.stringify(v ?? null);
}

const SECRET_COLUMN = /pass(word)?|pwd|secret|token|salt|hash|ssn|credit|card/i;
const MAX_SHOWN_CHARS = 120;

/** The row for an error message: secret-looking columns masked, long values cut, URLs' passwords redacted. */
export function describeRow(row: Row): string {
  const shown: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v !== null && SECRET_COLUMN.test(k)) shown[k] = '***';
    else if (typeof v === 'bigint') shown[k] = v.toString();
    else if (v instanceof Uint8Array) shown[k] = `<${v.length} bytes>`;
    else if (typeof v === 'string' && v.length > MAX_SHOWN_CHARS) shown[k] = `${v.slice(0, MAX_SHOWN_CHARS)}… (${v.length} chars)`;
    else shown[k] = v;
  }
  return redact(JSON.stringify(shown));
}

/** Maps the header's column names to record field names. */
export function columnFields(columns: readonly ColumnInfo[]): Map<string, string> {
  return new Map(columns.map((c) => [c.name, c.field]));
}

/**
 * Columns (row fields) a transform's `run` reads, found in its source text: `row.Name`, `row?.Name`,
 * `row['Name']`, `const { A, B } = row` and a destructured first parameter. Best effort: a row
 * handed whole to a helper is not followed (declare `columns` on the transform for that).
 */
export function usedColumns(run: (...args: never[]) => unknown): string[] {
  const source = run.toString();
  const params = firstParam(source);
  const used = new Set<string>();
  if (!params) return [];
  if (params.startsWith('{')) {
    for (const name of destructuredNames(params)) used.add(name);
    return [...used];
  }
  const p = escape(params);
  for (const m of source.matchAll(new RegExp(`\\b${p}\\s*\\??\\.\\s*([A-Za-z_$][\\w$]*)`, 'g'))) used.add(m[1]);
  for (const m of source.matchAll(new RegExp(`\\b${p}\\s*\\??\\.?\\[\\s*(['"\`])([^'"\`]+)\\1\\s*\\]`, 'g'))) used.add(m[2]);
  // ctx.precise(row, 'Column')
  for (const m of source.matchAll(new RegExp(`\\.\\s*precise\\s*\\(\\s*${p}\\s*,\\s*(['"\`])([^'"\`]+)\\1`, 'g'))) used.add(m[2]);
  for (const m of source.matchAll(new RegExp(`(\\{[^{}]*\\})\\s*=\\s*${p}\\b(?!\\s*[.[])`, 'g'))) {
    for (const name of destructuredNames(m[1])) used.add(name);
  }
  return [...used];
}

function firstParam(source: string): string | undefined {
  return functionParameters(source)?.params[0];
}

/** A function's parameters, from its source text (top level, defaults dropped), and where its body starts. */
export function functionParameters(source: string): { params: string[]; bodyStart: number } | undefined {
  const arrow = /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(source);
  if (arrow) return { params: [arrow[1]], bodyStart: arrow[0].length };
  const open = source.indexOf('(');
  if (open < 0) return undefined;
  const params: string[] = [];
  let depth = 0;
  let start = open + 1;
  let end = open + 1;
  for (; end < source.length; end++) {
    const c = source[end];
    if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') {
      if (depth === 0) break;
      depth--;
    } else if (c === ',' && depth === 0) {
      params.push(source.slice(start, end));
      start = end + 1;
    }
  }
  params.push(source.slice(start, end));
  return { params: params.map((p) => p.trim().replace(/\s*=.*$/s, '')).filter((p) => p !== ''), bodyStart: end + 1 };
}

function destructuredNames(pattern: string): string[] {
  const inner = pattern.trim().replace(/^\{/, '').replace(/\}$/, '');
  const names: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of inner + ',') {
    if (c === '{' || c === '[' || c === '(') depth++;
    if (c === '}' || c === ']' || c === ')') depth--;
    if (c === ',' && depth === 0) {
      const m = /^\s*(?:(['"])(.+?)\1|([A-Za-z_$][\w$]*))/.exec(current);
      if (m && !current.trim().startsWith('...')) names.push(m[2] ?? m[3]);
      current = '';
    } else current += c;
  }
  return names;
}

function escape(s: string): string {
  return s.replace(/[$]/g, '\\$');
}
