// Jobs the server gave up on (max_deliver reached without an ack), moved to the dead letters.
import { CONSUMERS, decodeJob, STREAMS, sweepTokenOf } from "@dtf/protocol";
import { publishDeadLetter } from "@dtf/protocol/nats";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

/**
 * A job delivered max_deliver times without an ack (its workers died or hung on every delivery)
 * stays in the work queue, undelivered; the server says so with a MAX_DELIVERIES advisory. Move
 * such a job to the dead letters with the reason. A queue group: with several aggregators, one
 * handles each advisory.
 */
export function collectUndeliverable(nc: NatsConnection, onDeadLetter: (line: string, job: { sweepId: string; runId: string } | null) => Promise<void>) {
  const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${STREAMS.jobs}.${CONSUMERS.workers}`;
  const sub = nc.subscribe(subject, { queue: "dtf-dead-letters" });
  void (async () => {
    const jsm = await jetstreamManager(nc);
    for await (const advisory of sub) {
      try {
        const { stream_seq, deliveries } = advisory.json<{ stream_seq: number; deliveries: number }>();
        const job = await jsm.streams.getMessage(STREAMS.jobs, { seq: stream_seq });
        if (!job) continue;
        let runId = "";
        let decoded: { sweepId: string; runId: string } | null = null;
        try {
          const j = decodeJob(job.data);
          runId = j.run_id;
          decoded = { sweepId: j.sweep_id, runId };
        } catch {
          // a malformed job: dead-lettered all the same
        }
        const reason = `delivered ${deliveries} times without an ack (its worker died or hung each time)`;
        await publishDeadLetter(nc, sweepTokenOf(job.subject), job.data, reason, runId);
        await jsm.streams.deleteMessage(STREAMS.jobs, stream_seq);
        await onDeadLetter(`job ${runId || stream_seq}: ${reason}`, decoded);
      } catch {
        // the next advisory is independent; this job stays visible in `dtf status` as queued
      }
    }
  })();
  return sub;
}
