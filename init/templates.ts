// The files of a new migration project (`ferry init`): a working example end to end, one legacy
// table → one event → one module, that the project's own `npm test` checks from the first minute.

export interface ProjectNames {
  /** package.json name. */
  name: string;
  /** How package.json asks for ferry (a version range, a tarball path, a git URL). */
  ferrySpec: string;
}

/** The example's legacy table, as a SQL Server or PostgreSQL replica holds it. */
export const EXAMPLE_TABLE = 'dbo.Members';

export function packageJson(names: ProjectNames): string {
  return JSON.stringify({
    name: names.name,
    private: true,
    type: 'module',
    scripts: {
      extract: 'ferry extract --out dumps/tables --schemas-out schemas/legacy',
      codegen: 'ferry transform codegen --in dumps/tables --out generated',
      transform: 'ferry transform --in dumps/tables --out dumps/events --order occurred_at',
      'seed:modules': 'ferry seed modules --in dumps/events --create-databases',
      'seed:rabbitmq': 'ferry seed rabbitmq --in dumps/events --declare',
      typecheck: 'tsc --noEmit',
      test: 'vitest run',
    },
    devDependencies: {
      '@types/node': '^20.19.0',
      ferry: names.ferrySpec,
      typescript: '^5.9.3',
      vitest: '^4.1.0',
    },
  }, null, 2) + '\n';
}

export const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noEmit": true,
    "allowImportingTsExtensions": true,
    "skipLibCheck": false,
    "types": ["node"]
  },
  "include": ["*.ts", "transforms", "modules", "generated", "test"]
}
`;

export const GITIGNORE = `node_modules/
# Dumps hold production data: keep them out of version control.
dumps/
.ferry/
*.partial-*
`;

export const CONFIG = `// The migration: event schemas, one transform per legacy table, the target modules and the
// RabbitMQ topology of a staging broker. Secrets and URLs come from flags or the environment
// (FERRY_EXTRACT_FROM, FERRY_PG_URL, FERRY_AMQP_URL), never from this file.
import { defineConfig } from 'ferry';
import { membersModule } from './modules/members/module.ts';
import members from './transforms/members.ts';

export default defineConfig({
  eventSchemas: ['events/members.proto'],
  transforms: [members],
  modules: [membersModule],
  rabbitmq: {
    exchange: 'migration.events',
    // Lazy queues keep a whole country's messages on disk until the module's consumer runs.
    queues: [{ name: 'members', bindings: ['MemberRegistered'], arguments: { 'x-queue-mode': 'lazy' } }],
  },
});
`;

export const MEMBERS_PROTO = `// Events of the members module. Field names are what handlers and consumers read.
syntax = "proto3";
package migration.members;

import "google/protobuf/timestamp.proto";

message MemberRegistered {
  string member_id = 1;
  string nickname = 2;
  optional string email = 3;
  google.protobuf.Timestamp registered_at = 4;
}
`;

export const MEMBERS_TRANSFORM = `// ${EXAMPLE_TABLE} → MemberRegistered. A transform is a pure function of the row: no I/O.
import { defineTransform } from 'ferry';
import type { Transform } from '../generated/ferry-types.ts';

export default defineTransform<Transform<'${EXAMPLE_TABLE}'>>({
  table: '${EXAMPLE_TABLE}',
  aggregateType: 'member',
  run(row, ctx) {
    // The same legacy id gives the same UUID on every run and machine.
    const memberId = ctx.id('member', row.Id);
    return ctx.event('MemberRegistered', {
      member_id: memberId,
      nickname: row.Nickname.trim(),
      email: row.Email?.toLowerCase(),
      registered_at: row.RegisteredAt,
    }, { occurredAt: row.RegisteredAt, aggregateId: memberId });
  },
});
`;

export const MEMBERS_SQL = `-- The members module's tables, created by \`ferry seed modules\` in the module's schema.
CREATE TABLE member (
  member_id     uuid PRIMARY KEY,
  nickname      text NOT NULL,
  email         text,
  registered_at timestamptz(6) NOT NULL
);
`;

export const MEMBERS_MODULE = `// The members module: its own database, its tables (schema.sql) and the rows each event becomes.
import { insert, type ModuleDefinition } from 'ferry';

export const membersModule: ModuleDefinition = {
  name: 'members',
  // On the server of --url / FERRY_PG_URL.
  database: 'migration_members',
  schemaFile: 'modules/members/schema.sql',
  handlers: {
    // Payloads arrive decoded: field names as in events/*.proto, Timestamps as ISO text.
    MemberRegistered: (p) => insert('member', {
      member_id: p.member_id, nickname: p.nickname, email: p.email, registered_at: p.registered_at,
    }),
  },
};
`;

export const MEMBERS_TEST = `// The transform on a few rows, through the same code as \`ferry transform\`.
import { transformRows } from 'ferry/testing';
import { describe, expect, it } from 'vitest';
import members from '../transforms/members.ts';

describe('${EXAMPLE_TABLE} → MemberRegistered', () => {
  it('cleans the nickname and the email', async () => {
    const events = await transformRows(members, [
      { Id: 7, Nickname: ' Åsa ', Email: 'ASA@Example.com', RegisteredAt: new Date('2019-05-04T10:20:30.123Z') },
    ], { config: 'ferry.config.ts' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'MemberRegistered',
      aggregateType: 'member',
      payload: { nickname: 'Åsa', email: 'asa@example.com' },
    });
  });

  it('keeps a missing email missing', async () => {
    const [event] = await transformRows(members, [
      { Id: 8, Nickname: 'Bo', Email: null, RegisteredAt: new Date('2020-01-01T00:00:00Z') },
    ], { config: 'ferry.config.ts' });
    expect(event.payload.email).toBeNull();
  });
});
`;

export function readme(names: ProjectNames): string {
  return `# ${names.name}

The migration of a legacy database into events and module databases, with
[ferry](https://www.npmjs.com/package/ferry). Everything ferry writes goes under \`dumps/\`
(git-ignored: it holds production data) and \`generated/\`.

\`\`\`sh
npm install
npm test                                        # the transforms' tests
export FERRY_EXTRACT_FROM='mssql://user:password@replica:1433/LegacyDb'   # a read-only replica
npm run extract                                 # tables → dumps/tables (resumable: add -- --resume)
npm run codegen                                 # row + event types → generated/ferry-types.ts
npm run transform                               # dumps/tables → dumps/events, ordered by time
export FERRY_PG_URL='postgres://user:password@staging:5432/postgres'
npm run seed:modules                            # events → each module's database, exactly once
export FERRY_AMQP_URL='amqp://user:password@staging:5672'
npm run seed:rabbitmq                           # events → the exchange of ferry.config.ts
\`\`\`

| path | what |
| --- | --- |
| \`ferry.config.ts\` | event schemas, transforms, modules, RabbitMQ topology |
| \`events/*.proto\` | the domain events |
| \`transforms/*.ts\` | one pure function per legacy table: row → events |
| \`modules/<name>/\` | a target module: \`schema.sql\` and the rows each event becomes |
| \`generated/ferry-types.ts\` | row and event types (\`npm run codegen\`; do not edit) |
| \`test/\` | vitest tests of the transforms through \`ferry/testing\` |

Local servers to try it: \`npx ferry services start\` starts PostgreSQL and RabbitMQ on 127.0.0.1,
\`eval "$(npx ferry services env)"\` exports their URLs, \`npx ferry services stop\` stops them.
Every command has \`--help\`; \`npx ferry --help\` lists them.
`;
}

/** A transform skeleton for one table of the legacy catalog (`ferry init --from`). */
export function tableTransform(table: string, columns: Array<{ name: string; sqlType: string; nullable: boolean }>, key: string[]): string {
  const listing = columns.map((c) => `//   ${c.name}: ${c.sqlType}${c.nullable ? ', NULL' : ''}${key.includes(c.name) ? ' (key)' : ''}`).join('\n');
  return `// ${table} → events. Columns:
${listing}
// Emit events with ctx.event('<EventType>', payload, { occurredAt, aggregateId }) once the event is
// declared in events/*.proto and listed in ferry.config.ts; until then this table emits nothing.
import { defineTransform } from 'ferry';
import type { Transform } from '../generated/ferry-types.ts';

export default defineTransform<Transform<${JSON.stringify(table)}>>({
  table: ${JSON.stringify(table)},
  aggregateType: ${JSON.stringify(aggregateName(table))},
  run(_row, _ctx) {
    return [];
  },
});
`;
}

/** dbo.OrderLines → order-lines: a name for files and aggregates. */
export function aggregateName(table: string): string {
  const name = table.slice(table.lastIndexOf('.') + 1);
  return name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase() || 'table';
}

/** ferry.config.ts of a project made from a catalog: every table's transform skeleton. */
export function catalogConfig(transforms: Array<{ table: string; file: string }>): string {
  const imports = transforms.map((t, i) => `import t${i} from './${t.file}';`).join('\n');
  return `// The migration: event schemas, one transform per legacy table (skeletons from the legacy
// catalog, to be filled in), the target modules and the RabbitMQ topology of a staging broker.
// Secrets and URLs come from flags or the environment (FERRY_EXTRACT_FROM, FERRY_PG_URL,
// FERRY_AMQP_URL), never from this file.
import { defineConfig } from 'ferry';
import { membersModule } from './modules/members/module.ts';
${imports}

export default defineConfig({
  eventSchemas: ['events/members.proto'],
  transforms: [${transforms.map((_, i) => `t${i}`).join(', ')}],
  modules: [membersModule],
  rabbitmq: {
    exchange: 'migration.events',
    queues: [{ name: 'members', bindings: ['MemberRegistered'], arguments: { 'x-queue-mode': 'lazy' } }],
  },
});
`;
}

/** The first test of a project made from a catalog: every legacy table has its transform. */
export function catalogTest(tables: string[]): string {
  return `// Every table of the legacy catalog (as read by ferry init --from) has a transform in the config.
import { describe, expect, it } from 'vitest';
import config from '../ferry.config.ts';

const LEGACY_TABLES = ${JSON.stringify(tables, null, 2).replace(/\n/g, '\n')};

describe('ferry.config.ts', () => {
  it('has one transform per legacy table', () => {
    const tables = (config.transforms ?? []).map((t) => t.table).sort();
    expect(tables).toEqual([...LEGACY_TABLES].sort());
  });
});
`;
}
