// The RabbitMQ part of ferry.config.ts: exchange, module queues and their bindings. (Issue #5 fills this in.)
export interface RabbitmqTopology {
  exchange?: string;
}
