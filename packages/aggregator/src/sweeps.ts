// The sweeps the aggregator has met: their KV records, checked, and their runs by position.
import { decodeSweepRecord, type Job, KEYS, ProtocolError, type SweepInfo } from "@dtf/protocol";
import type { ResultStore } from "@dtf/store";
import { type PlannedRun, runAtIfNamed, type SweepSpec, sweepIdOf } from "@dtf/sweep";
import type { KV } from "@nats-io/kv";
import { checkJob, Rejected, type RunsOfSweep } from "./rules.ts";

/** Runs `SweepRuns` keeps recomputed: more than the runs a worker pool trains at once. */
const RECENT_RUNS = 4096;

/**
 * A sweep's runs, recomputed from their position in its expansion (`runAt`) rather than held:
 * the aggregator's memory stays flat in the sweep's size, where a set of every run id would take
 * minutes and gigabytes at 10⁷ runs. The runs recently asked for are kept (a run's every metric
 * batch asks again).
 */
export class SweepRuns implements RunsOfSweep {
  private readonly recent = new Map<number, PlannedRun>();

  constructor(private readonly sweep: SweepSpec) {}

  /** The run at `index` when its id is `runId`; null when the sweep has no such run. */
  find(runId: string, index: number): PlannedRun | null {
    const recent = this.recent.get(index);
    if (recent) return recent.runId === runId ? recent : null;
    const run = runAtIfNamed(this.sweep, runId, index);
    if (run) {
      if (this.recent.size >= RECENT_RUNS) this.recent.clear();
      this.recent.set(index, run);
    }
    return run;
  }
}

/** What the aggregator knows of one sweep: its record, its spec and its runs. */
export type KnownSweep = { info: SweepInfo; sweep: SweepSpec; runs: SweepRuns };

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
    await this.store.recordSweep(info);
    return { info, sweep, runs: new SweepRuns(sweep) };
  }

  /** Checks that `job` is a run of its sweep: its index, its point and its spec all recompute to its run id. */
  async checkJob(job: Job): Promise<KnownSweep> {
    const known = await this.get(job.sweep_id);
    checkJob(job, known.sweep, known.runs);
    return known;
  }
}
