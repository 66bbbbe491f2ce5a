export { DumpWriter, writeDump, type DumpWriterOptions, type DumpSummary, type HeaderInit } from './dump-writer.ts';
export { DumpReader, readDump, toPlain, type BlockRange } from './dump-reader.ts';
export { verifyDump, verifyPath, listDumps, listPartials, DUMP_SUFFIX, type VerifyResult } from './verify.ts';
export { DumpError, type DumpLocation } from './errors.ts';
export { newRoot, parseProto, toDescriptorSet, fromDescriptorSet, trustDumpStrings } from './descriptors.ts';
export { FORMAT_VERSION, type DumpHeader, type DumpTrailer, type BlockInfo, type ColumnInfo, type Origin, type DumpKind } from './header.ts';
export { MAX_RECORD_BYTES } from './framing.ts';
export {
  ENVELOPE_TYPE, ENVELOPE_PROTO, eventSchema, makeEnvelope, readEnvelope, decodePayload, isoToTimestamp, timestampToIso, type EventRecord,
} from './event-envelope.ts';
