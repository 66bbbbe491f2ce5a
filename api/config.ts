// ferry.config.ts: configuration in code (typed), secrets and URLs from flags or environment. The
// types every stage reads its part of; they import nothing from the stages.
import type { ModuleDefinition } from './module.ts';
import type { RabbitmqTopology } from './rabbitmq.ts';
import type { TransformDefinition } from './transform.ts';

export interface FerryConfig {
  /** .proto files declaring the domain events, relative to the config file. */
  eventSchemas?: string[];
  transforms?: TransformDefinition[];
  modules?: ModuleDefinition[];
  rabbitmq?: RabbitmqTopology;
}

/** Identity function that gives ferry.config.ts its types. */
export function defineConfig<C extends FerryConfig>(config: C): C {
  return config;
}
