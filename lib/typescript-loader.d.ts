/** Registers tsx's ESM and CommonJS loaders once per thread, so TypeScript files can be imported. */
export function registerTypeScript(): Promise<void>;
