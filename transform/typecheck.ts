// Type-checks ferry.config.ts and everything it imports (the transforms, the generated types)
// before a run, so a transform that builds a wrong event stops the run with the compiler's words.
// tsx, which loads the transforms, strips types without checking them.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../lib/errors.ts';

const FERRY_ROOT = fileURLToPath(new URL('..', import.meta.url));
const FROM_SOURCES = import.meta.url.endsWith('.ts');

export interface TypecheckResult {
  errors: string[];
  seconds: number;
}

/** Compiler errors of the program rooted at `files`, one line each ("file:line:col: TSxxxx message"). */
export async function typecheckFiles(files: string[]): Promise<TypecheckResult> {
  const started = performance.now();
  const require = createRequire(import.meta.url);
  let ts: typeof import('typescript');
  try {
    ts = require('typescript') as typeof import('typescript');
  } catch {
    throw new UserError('the typescript package is not installed, so transforms cannot be type-checked: run npm install, or pass --no-typecheck');
  }
  const options: import('typescript').CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    esModuleInterop: true,
    allowImportingTsExtensions: true,
    resolveJsonModule: true,
    // From ferry's sources (a clone of the repository), 'ferry' resolves to them and Node's types
    // are ferry's own; installed, the project's own node_modules serve both.
    ...(FROM_SOURCES ? { customConditions: ['ferry-source'], types: ['node'], typeRoots: [path.join(FERRY_ROOT, 'node_modules', '@types')] } : {}),
  };
  const program = ts.createProgram(files.map((f) => path.resolve(f)), options);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  const errors = diagnostics
    .filter((d) => d.category === ts.DiagnosticCategory.Error)
    .map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      if (!d.file || d.start === undefined) return `TS${d.code}: ${text}`;
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      return `${path.relative(process.cwd(), d.file.fileName)}:${line + 1}:${character + 1}: TS${d.code} ${text}`;
    });
  return { errors, seconds: (performance.now() - started) / 1000 };
}

/** Throws a one-line UserError with the first compiler error (and how many more there are). */
export async function typecheckConfig(configFile: string): Promise<void> {
  const { errors } = await typecheckFiles([configFile]);
  if (errors.length === 0) return;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? 's' : ''})` : '';
  throw new UserError(`transforms do not type-check: ${errors[0]}${more}; fix them (or run with --no-typecheck)`);
}
