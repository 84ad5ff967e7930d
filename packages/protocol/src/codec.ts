// The wire messages (Job, MetricBatch, RunResult): protobuf encode and checked decode.
import { type ComponentGrowth, DtfError, type MetricPoint, type RunSpec, resolveRunSpec, SpecError } from "@dtf/engine";
import { dtf } from "./gen/dtf.js";

const v1 = dtf.v1;

/** A message that cannot be decoded or does not describe a valid job; `reason` says why. */
export class ProtocolError extends DtfError {}

/** A sweep id the cluster does not know (what the user typed: a usage error). */
export class UnknownSweepError extends DtfError {}

/** One run of a sweep, as sent to a worker. */
export type Job = {
  sweep_id: string;
  run_id: string;
  /** Delivery count, 1 for the first. */
  attempt: number;
  spec: RunSpec;
  /** The run's values on the swept axes. */
  point: Record<string, unknown>;
  /** The run's position in its sweep's expansion (`runAt(sweep, run_index)` recomputes it). */
  run_index: number;
};

/** Evaluations of one run, sent in batches. */
export type MetricBatch = { sweep_id: string; run_id: string; run_index: number; attempt: number; points: MetricPoint[] };

export const RUN_STATUSES = ["ok", "diverged", "failed", "cancelled"] as const;
export type RunStatusName = (typeof RUN_STATUSES)[number];

/** How a run ended: the row the store keeps per run. */
export type RunResult = {
  sweep_id: string;
  run_id: string;
  attempt: number;
  status: RunStatusName;
  stop_reason: string;
  steps: number;
  /** The last evaluation (null when the run failed before evaluating). */
  final: MetricPoint | null;
  /** First evaluated step below each recon-error threshold; thresholds never crossed are absent. */
  threshold_steps: Record<string, number>;
  wall_ms: number;
  engine: string;
  code_version: string;
  worker_id: string;
  error: string;
  /** The job answered (set by cluster workers so the aggregator can store the run's spec). */
  job?: Job;
  /** Growth-law fits of the traced components (absent or empty unless the spec has trace_every). */
  growth?: ComponentGrowth[];
};

const toObjectOptions = { defaults: true, arrays: true, objects: true, longs: Number, enums: String } as const;

function decodeWith<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw new ProtocolError(`malformed ${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** Decodes and checks a job: a message that is not a Job, or whose spec is invalid, is a ProtocolError. */
export function decodeJob(bytes: Uint8Array): Job {
  const obj = decodeWith("Job", () => v1.Job.toObject(v1.Job.decode(bytes), toObjectOptions)) as unknown as {
    sweep_id: string;
    run_id: string;
    attempt: number;
    spec: Record<string, unknown> | null;
    point_json: string;
    run_index: number;
  };
  if (!obj.run_id) throw new ProtocolError("malformed Job: run_id is empty");
  if (!obj.spec) throw new ProtocolError(`malformed Job ${obj.run_id}: spec is missing`);
  // proto3 has no absent list: an empty one is the absent key of a spec without a growth trace
  if (Array.isArray(obj.spec.growth_window) && obj.spec.growth_window.length === 0) delete obj.spec.growth_window;
  let spec: RunSpec;
  try {
    spec = resolveRunSpec(obj.spec);
  } catch (err) {
    if (err instanceof SpecError) throw new ProtocolError(`Job ${obj.run_id} has an invalid spec: ${err.message}`, { cause: err });
    throw err;
  }
  const point = decodeWith(`Job ${obj.run_id} point_json`, () => (obj.point_json ? JSON.parse(obj.point_json) : {}));
  return { sweep_id: obj.sweep_id, run_id: obj.run_id, attempt: obj.attempt, spec, point, run_index: obj.run_index };
}

export function encodeMetricBatch(batch: MetricBatch): Uint8Array {
  return v1.MetricBatch.encode(v1.MetricBatch.fromObject(batch)).finish();
}

export function decodeMetricBatch(bytes: Uint8Array): MetricBatch {
  return decodeWith("MetricBatch", () =>
    v1.MetricBatch.toObject(v1.MetricBatch.decode(bytes), toObjectOptions),
  ) as unknown as MetricBatch;
}

const statusToProto = (s: RunStatusName) => `RUN_STATUS_${s.toUpperCase()}`;

const jobToProto = (job: Job) => {
  const { point, ...rest } = job;
  return { ...rest, point_json: JSON.stringify(point) };
};

export function encodeJob(job: Job): Uint8Array {
  return v1.Job.encode(v1.Job.fromObject(jobToProto(job))).finish();
}

export function encodeRunResult(result: RunResult): Uint8Array {
  const { job, ...rest } = result;
  const message = { ...rest, status: statusToProto(result.status), ...(job ? { job: jobToProto(job) } : {}) };
  return v1.RunResult.encode(v1.RunResult.fromObject(message)).finish();
}

export function decodeRunResult(bytes: Uint8Array): RunResult {
  const message = decodeWith("RunResult", () => v1.RunResult.decode(bytes));
  const obj = v1.RunResult.toObject(message, toObjectOptions) as unknown as Omit<RunResult, "status" | "job"> & {
    status: string;
    final: MetricPoint | null;
    job: unknown;
  };
  const status = obj.status.replace("RUN_STATUS_", "").toLowerCase() as RunStatusName;
  if (!RUN_STATUSES.includes(status)) throw new ProtocolError(`malformed RunResult ${obj.run_id}: status ${obj.status}`);
  const { job: _, ...rest } = obj;
  const { growth, ...fields } = rest;
  const result: RunResult = { ...fields, status, final: obj.final ?? null, ...(growth?.length ? { growth } : {}) };
  if (message.job) result.job = decodeJob(v1.Job.encode(message.job).finish());
  return result;
}

export type SweepInfo = {
  sweep_id: string;
  name: string;
  spec_json: string;
  total_runs: number;
  code_version: string;
  created_ms: number;
};

export function encodeSweepInfo(info: SweepInfo): Uint8Array {
  return v1.SweepInfo.encode(v1.SweepInfo.fromObject(info)).finish();
}

export function decodeSweepInfo(bytes: Uint8Array): SweepInfo {
  return decodeWith("SweepInfo", () => v1.SweepInfo.toObject(v1.SweepInfo.decode(bytes), toObjectOptions)) as unknown as SweepInfo;
}

/**
 * The sweep's KV record (`sweep.<id>`), the one codec every reader uses: a SweepInfo in protobuf,
 * checked when read (a record that names another sweep, or lacks its spec or run count, is a
 * ProtocolError). A record an earlier dtf wrote as JSON still reads.
 */
export const encodeSweepRecord = encodeSweepInfo;

export function decodeSweepRecord(bytes: Uint8Array, sweepId: string): SweepInfo {
  let info: SweepInfo;
  if (bytes[0] === 0x7b /* "{": JSON, as dtf wrote it before */) {
    info = decodeWith("SweepInfo", () => JSON.parse(new TextDecoder().decode(bytes)) as SweepInfo);
  } else info = decodeSweepInfo(bytes);
  const problem =
    info === null || typeof info !== "object"
      ? "not an object"
      : info.sweep_id !== sweepId
        ? `it names sweep ${String(info.sweep_id)}`
        : typeof info.spec_json !== "string" || info.spec_json === ""
          ? "it holds no spec"
          : !Number.isInteger(info.total_runs) || info.total_runs < 1
            ? `total_runs is ${String(info.total_runs)}`
            : typeof info.code_version !== "string" || !Number.isFinite(info.created_ms)
              ? "code_version or created_ms is missing"
              : null;
  if (problem) throw new ProtocolError(`the record of sweep ${sweepId} is malformed: ${problem}`);
  return info;
}
