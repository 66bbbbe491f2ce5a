// The dump's own records (Header, Trailer), from schemas/ferry/dump.proto.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const FORMAT_VERSION = 1;

const root = protobuf.loadSync(fileURLToPath(new URL('../schemas/ferry/dump.proto', import.meta.url)), undefined);
export const HeaderType = root.lookupType('ferry.dump.Header');
export const TrailerType = root.lookupType('ferry.dump.Trailer');

export type DumpKind = 'TABLE' | 'EVENTS' | 'REJECTS';

export interface ColumnInfo {
  name: string;
  sqlType: string;
  nullable: boolean;
  field: string;
  fieldNumber: number;
}

export interface Origin {
  source?: string;
  server?: string;
  database?: string;
  query?: string;
  startedAt?: string;
  toolVersion?: string;
}

export interface DumpHeader {
  formatVersion: number;
  kind: DumpKind;
  name: string;
  recordType: string;
  columns: ColumnInfo[];
  primaryKey: string[];
  descriptorSet: Uint8Array;
  origin: Origin;
  createdAt: string;
  properties: Record<string, string>;
}

export interface BlockInfo {
  offset: number;
  compressedBytes: number;
  uncompressedBytes: number;
  records: number;
  crc32: number;
  firstRecord: number;
}

export interface DumpTrailer {
  records: number;
  blocks: BlockInfo[];
  finishedAt: string;
}

const toObjectOptions = { longs: Number, enums: String, defaults: true, arrays: true, objects: true } as const;

export function encodeHeader(h: DumpHeader): Uint8Array {
  return HeaderType.encode(HeaderType.fromObject(h)).finish();
}

export function decodeHeader(bytes: Uint8Array): DumpHeader {
  return HeaderType.toObject(HeaderType.decode(bytes), toObjectOptions) as DumpHeader;
}

export function encodeTrailer(t: DumpTrailer): Uint8Array {
  return TrailerType.encode(TrailerType.fromObject(t)).finish();
}

export function decodeTrailer(bytes: Uint8Array): DumpTrailer {
  return TrailerType.toObject(TrailerType.decode(bytes), toObjectOptions) as DumpTrailer;
}
