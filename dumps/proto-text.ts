import protobuf from 'protobufjs';

/** A message type as .proto text, for people reading `ferry dump inspect`. */
export function typeToProto(type: protobuf.Type): string {
  const lines = [`message ${type.name} {`];
  for (const field of type.fieldsArray) {
    const label = field.repeated ? 'repeated ' : field.partOf ? 'optional ' : '';
    const kind = field.map ? `map<${(field as unknown as protobuf.MapField).keyType}, ${field.type}>` : field.type;
    lines.push(`  ${label}${kind} ${field.name} = ${field.id};`);
  }
  lines.push('}');
  return lines.join('\n');
}
