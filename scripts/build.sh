#!/usr/bin/env bash
# The package's compiled JavaScript and type declarations in dist/ (what `npm pack` ships), with the
# files the code reads beside it: the dump and envelope schemas and the plain-JavaScript entries.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist
npx tsc -p tsconfig.build.json
mkdir -p dist/schemas dist/bin
cp -r schemas/ferry dist/schemas/
cp bin/ferry.js dist/bin/
cp lib/typescript-loader.js lib/typescript-loader.d.ts dist/lib/
cp transform/worker-entry.js dist/transform/
