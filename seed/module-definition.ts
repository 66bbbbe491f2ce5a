// The module part of ferry.config.ts: a target module's database and handlers. (Issue #6 fills this in.)
export interface ModuleDefinition {
  name: string;
}
