// The sweeps the aggregator has met: their KV records, checked, and the ids of their runs.
import { decodeSweepRecord, type Job, KEYS, ProtocolError, type SweepInfo } from "@dtf/protocol";
import type { ResultStore } from "@dtf/store";
import { expandRuns, type SweepSpec, sweepIdOf } from "@dtf/sweep";
import type { KV } from "@nats-io/kv";
import { checkJob, Rejected } from "./rules.ts";

/** What the aggregator knows of one sweep: its record, and each run id's position (`runAt` gives its spec). */
export type KnownSweep = { info: SweepInfo; sweep: SweepSpec; runIds: Map<string, number> };

/**
 * The sweeps whose messages the aggregator has seen, read from their KV records (written by the
 * submitter; workers cannot write KV). The first message of a sweep records its `sweeps` row in
 * the store. A record whose spec does not hash to its id is refused like an unknown sweep.
 */
export class SweepRegistry {
  private readonly known = new Map<string, Promise<KnownSweep>>();

  constructor(
    private readonly kv: KV,
    private readonly store: ResultStore,
  ) {}

  get(sweepId: string): Promise<KnownSweep> {
    let entry = this.known.get(sweepId);
    if (!entry) {
      entry = this.load(sweepId);
      this.known.set(sweepId, entry);
      entry.catch(() => this.known.delete(sweepId)); // unknown now, maybe submitted later
    }
    return entry;
  }

  private async load(sweepId: string): Promise<KnownSweep> {
    const record = await this.kv.get(KEYS.sweep(sweepId));
    if (record?.operation !== "PUT") throw new Rejected(`sweep ${sweepId} was never submitted`);
    let info: SweepInfo;
    let sweep: SweepSpec;
    try {
      info = decodeSweepRecord(record.value, sweepId);
      sweep = JSON.parse(info.spec_json) as SweepSpec;
    } catch (err) {
      // refused like an unknown sweep: retrying would not mend the record
      throw new Rejected(err instanceof ProtocolError ? err.message : `the record of sweep ${sweepId} holds no readable spec`);
    }
    if (sweepIdOf(sweep) !== sweepId) throw new Rejected(`the record of sweep ${sweepId} holds another sweep's spec`);
    const runIds = new Map<string, number>();
    for (const run of expandRuns(sweep)) runIds.set(run.runId, run.index);
    await this.store.recordSweep(info);
    return { info, sweep, runIds };
  }

  /** Checks that `job` is a run of its sweep: its point recomputes to its run id, and so does its spec. */
  async checkJob(job: Job): Promise<KnownSweep> {
    const known = await this.get(job.sweep_id);
    checkJob(job, known.sweep, known.runIds);
    return known;
  }
}
