// Record schemas travel inside each dump as a google.protobuf.FileDescriptorSet, so a reader needs
// nothing but the file (and protoc can decode any record with `--descriptor_set_in`).
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

// Not struct.proto: protoc rejects the map entry type protobufjs writes for it.
const WELL_KNOWN = ['timestamp', 'duration', 'wrappers', 'empty'] as const;

/** A root that already knows the common google.protobuf types, ready for generated .proto text. */
export function newRoot(): protobuf.Root {
  const root = new protobuf.Root();
  for (const name of WELL_KNOWN) {
    const common = protobuf.common.get(`google/protobuf/${name}.proto`);
    if (common?.nested) root.addJSON(common.nested);
  }
  return root;
}

/** Parses .proto sources (e.g. generated row messages) into one root; field names keep their case. */
export function parseProto(sources: string[], root = newRoot()): protobuf.Root {
  for (const text of sources) protobuf.parse(text, root, { keepCase: true });
  root.resolveAll();
  return root;
}

/** Encodes a root as a FileDescriptorSet, with the imports protoc needs between its files. */
export function toDescriptorSet(root: protobuf.Root): Uint8Array {
  const set = (root as unknown as { toDescriptor(syntax: string): DescriptorSet }).toDescriptor('proto3');
  const fileOfPackage = new Map(set.file.map((f) => [f.package ?? '', f.name]));
  for (const file of set.file) {
    const deps = new Set<string>();
    const visit = (messages: MessageDescriptor[] | undefined) => {
      for (const m of messages ?? []) {
        for (const field of m.field ?? []) {
          if (!field.typeName) continue;
          const pkg = field.typeName.replace(/^\./, '').split('.').slice(0, -1).join('.');
          for (const [p, name] of fileOfPackage) if (name !== file.name && pkg.startsWith(p) && p) deps.add(name);
        }
        visit(m.nestedType);
      }
    };
    visit(file.messageType);
    file.dependency = [...deps].sort();
  }
  return (descriptor as unknown as { FileDescriptorSet: protobuf.Type }).FileDescriptorSet.encode(set as never).finish();
}

export function fromDescriptorSet(bytes: Uint8Array): protobuf.Root {
  const root = (protobuf.Root as unknown as { fromDescriptor(b: Uint8Array, o: { keepCase: boolean }): protobuf.Root }).fromDescriptor(bytes, { keepCase: true });
  root.resolveAll();
  return root;
}

/**
 * Makes the decoders of `root`'s messages read strings without checking their UTF-8 (proto3's
 * default, utf8_validation = VERIFY, decodes every string through a fatal TextDecoder: about 8 %
 * of a transform worker's time on the example's message bodies). For the records of dumps only:
 * each block's CRC-32 is checked, and the writers encoded the strings from valid text. Call it
 * before the first decode (protobufjs generates a type's decoder on first use).
 */
export function trustDumpStrings(root: protobuf.Root): protobuf.Root {
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const child of ns.nestedArray) {
      if (child instanceof protobuf.Type) {
        // protobufjs keeps resolved edition features in the private _features (see its decoder.js).
        for (const field of child.fieldsArray) if (field.type === 'string') (field as unknown as { _features: { utf8_validation: string } })._features.utf8_validation = 'NONE';
      }
      if (child instanceof protobuf.Namespace) visit(child);
    }
  };
  visit(root);
  return root;
}

interface DescriptorSet {
  file: { name: string; package?: string; dependency?: string[]; messageType?: MessageDescriptor[] }[];
}
interface MessageDescriptor {
  field?: { typeName?: string }[];
  nestedType?: MessageDescriptor[];
}
