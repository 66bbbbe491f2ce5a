// The RabbitMQ part of ferry.config.ts: the exchange events go to and, for staging brokers, the
// modules' queues and their bindings (`ferry seed rabbitmq --declare`).

export interface RabbitmqQueue {
  name: string;
  /** Binding keys (topic patterns) on the exchange: event types, e.g. 'MemberRegistered', or '#'. */
  bindings: string[];
  /** Queue arguments, e.g. { 'x-queue-type': 'quorum' } or { 'x-queue-version': 2 }. */
  arguments?: Record<string, unknown>;
  /** Default true: a seeded staging broker keeps its messages over a restart. */
  durable?: boolean;
}

export interface RabbitmqTopology {
  /** The topic exchange events are published to (routing key = event type). */
  exchange?: string;
  queues?: RabbitmqQueue[];
}
