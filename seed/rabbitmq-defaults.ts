// seed rabbitmq's defaults, apart from the engine so the command line reads them without loading amqplib.
export const SEED_RABBITMQ_DEFAULTS = {
  batchSize: 500,
  window: 5_000,
  channels: 1,
  connections: 1,
  /** RabbitMQ's default max_message_size (128 MiB). */
  maxMessageBytes: 128 * 1024 * 1024,
  connectTimeoutSeconds: 10,
  reconnectTimeoutSeconds: 120,
  nackRetries: 5,
};
