// ferry's public entry point: what a migration project imports from 'ferry'. Everything else in
// the package is internal and may change between versions.
export { defineConfig, type FerryConfig } from '../lib/config.ts';
export { defineTransform, entityId, eventId, FERRY_EVENT_NAMESPACE, FERRY_ID_NAMESPACE } from '../transform/api.ts';
export type { EmittedEvent, EventMeta, KeyValue, RowSource, TransformContext, TransformDefinition, TransformResult } from '../transform/api.ts';
export { insert, remove, update } from '../seed/module-definition.ts';
export type { DeleteOp, EventHandler, HandlerResult, InsertOp, ModuleDefinition, Row, RowOp, UpdateOp } from '../seed/module-definition.ts';
export type { RabbitmqTopology } from '../seed/rabbitmq-topology.ts';
