// What transform modules import: defineTransform, the context types, deterministic ids and PreciseTimestamp.
import type { TransformDefinition } from './definition.ts';

export type { EmittedEvent, EventMeta, KeyValue, RowSource, TransformContext, TransformDefinition, TransformResult } from './definition.ts';
export { entityId, eventId, FERRY_ID_NAMESPACE, FERRY_EVENT_NAMESPACE } from './ids.ts';
export { PreciseTimestamp } from '../lib/precise-timestamp.ts';

/**
 * Identity function that gives a transform its types. With the generated types:
 *   defineTransform<Transform<'dbo.Members'>>({ table: 'dbo.Members', run(row, ctx) { ... } })
 * or, without them, defineTransform<TransformDefinition<MyRow, MyEvents>>({ ... }).
 */
export function defineTransform<D extends TransformDefinition<any, any, any, any>>(definition: D): D {
  return definition;
}
