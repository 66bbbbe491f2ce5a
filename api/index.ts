// ferry's public entry point: what a migration project imports from 'ferry'. Everything else in
// the package is internal and may change between versions.
export { defineConfig, type FerryConfig } from './config.ts';
export { insert, remove, update, upsert } from './module.ts';
export type { DeleteOp, EventHandler, HandlerResult, InsertOp, ModuleDefinition, Row, RowOp, SchemaMode, UpdateOp, UpsertOp } from './module.ts';
export type { RabbitmqQueue, RabbitmqTopology } from './rabbitmq.ts';
export { defineTransform } from './transform.ts';
export type { EmittedEvent, EventMeta, KeyValue, RowSource, TransformContext, TransformDefinition, TransformResult } from './transform.ts';
export { PreciseTimestamp } from '../lib/precise-timestamp.ts';
export { entityId, eventId, FERRY_EVENT_NAMESPACE, FERRY_ID_NAMESPACE } from '../transform/ids.ts';
