// dbo.AbuseReports → AbuseReported, and AbuseReportHandled when a moderator handled it.
import { defineTransform, type EmittedEvent } from 'ferry';
import type { Transform } from '../generated/ferry-types.ts';
import { reasonCode } from './clean.ts';

export default defineTransform<Transform<'dbo.AbuseReports'>>({
  table: 'dbo.AbuseReports',
  aggregateType: 'report',
  run(row, ctx) {
    const reportId = ctx.id('report', row.Id);
    const reportedId = ctx.id('member', row.ReportedId);
    const events: EmittedEvent[] = [
      ctx.event('AbuseReported', {
        report_id: reportId, legacy_id: row.Id, reporter_id: ctx.id('member', row.ReporterId), reported_id: reportedId,
        reason: reasonCode(row.Reason), reason_text: row.Reason, details: row.Details ?? undefined, reported_at: row.ReportedAt,
      }, { occurredAt: row.ReportedAt, aggregateId: reportId }),
    ];
    if (row.HandledAt) {
      events.push(ctx.event('AbuseReportHandled', { report_id: reportId, reported_id: reportedId, fine: row.Fine ?? undefined, handled_at: row.HandledAt }, { occurredAt: row.HandledAt, aggregateId: reportId }));
    }
    return events;
  },
});
