// Module resolve hook for a clone of the repository: `import … from 'ferry'` (as the example
// migration and users' code write it) resolves to the TypeScript sources of the public entry
// points, as the package's exports resolve it to dist/ once built and installed.
const ENTRIES = {
  ferry: new URL('../api/index.ts', import.meta.url).href,
  'ferry/testing': new URL('../api/testing.ts', import.meta.url).href,
};

export async function resolve(specifier, context, nextResolve) {
  const entry = ENTRIES[specifier];
  return entry ? nextResolve(entry, context) : nextResolve(specifier, context);
}
