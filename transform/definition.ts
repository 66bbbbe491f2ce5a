// The transform part of ferry.config.ts. (Issue #4 fills this in.)
export interface TransformDefinition {
  /** Source table, `schema.table`, as named in the table dumps. */
  table: string;
}
