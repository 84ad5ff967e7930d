import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { RUN_SPEC_KEYS, resolveRunSpec, train } from "@dtf/engine";
import { expect } from "chai";
import { dtf } from "../src/gen/dtf.js";
import {
  decodeJob,
  decodeMetricBatch,
  decodeRunResult,
  decodeSweepInfo,
  decodeSweepRecord,
  encodeJob,
  encodeMetricBatch,
  encodeRunResult,
  encodeSweepInfo,
  encodeSweepRecord,
  type Job,
  ProtocolError,
  type RunResult,
} from "../src/index.ts";

const root = new URL("../../../", import.meta.url).pathname;

describe("protocol", () => {
  it("round trip - Job carries every resolved run-spec field unchanged", () => {
    for (const input of [
      { model: "cp", order: 4, dim: [3, 4, 5, 6], depth: 3, variant: "component", seed: 2 ** 32 - 1, thresholds: [0.2, 0.02] },
      { model: "tucker", order: 3, dim: 5, core_rank: [2, 3, 4], problem: "sensing", observations: 30, engine: "js" },
      { model: "matrix", dim: [20, 30], depth: 2, width: [7, 7], optimizer: "adam", lr: 3e-4 },
    ]) {
      const spec = resolveRunSpec(input);
      const job: Job = { sweep_id: "s-1", run_id: "abc", run_index: 4_000_000_000, attempt: 2, spec, point: { depth: 3, seed: 2 } };
      expect(decodeJob(encodeJob(job))).to.deep.equal(job);
    }
  });

  it("schema - the RunSpec message has a field for every run-spec key", () => {
    // a spec that uses every key, the optional ones (growth trace) included
    const full = resolveRunSpec({ optimizer: "gd", trace_every: 5 });
    const fields = Object.keys(dtf.v1.RunSpec.toObject(dtf.v1.RunSpec.fromObject(full), { defaults: true, arrays: true }));
    for (const key of RUN_SPEC_KEYS) expect(fields, key).to.include(key);
    const job: Job = { sweep_id: "s", run_id: "r", run_index: 7, attempt: 1, spec: full, point: {} };
    expect(decodeJob(encodeJob(job))).to.deep.equal(job);
  });

  it("round trip - metric batches and results from a real training, NaN and empty lists included", async () => {
    const points: RunResult["final"][] = [];
    const r = await train({ order: 3, dim: 4, components: 8, observations: 30, steps: 50, eval_every: 25 }, { onMetrics: (p) => points.push(p) });
    const batch = { sweep_id: "s", run_id: "r", run_index: 3, attempt: 1, points: points as NonNullable<RunResult["final"]>[] };
    expect(decodeMetricBatch(encodeMetricBatch(batch))).to.deep.equal(batch);
    const nan = { ...batch, points: [{ ...batch.points[0], recon_error: Number.NaN, singular_values: [] }] };
    expect(Number.isNaN(decodeMetricBatch(encodeMetricBatch(nan)).points[0].recon_error)).to.equal(true);
    const result: RunResult = {
      sweep_id: "s", run_id: "r", attempt: 1, status: "diverged", stop_reason: "diverged", steps: r.steps, final: points.at(-1)!,
      threshold_steps: { "0.1": 25 }, wall_ms: 12.5, engine: "native", code_version: "abc", worker_id: "host/0", error: "",
    };
    expect(decodeRunResult(encodeRunResult(result))).to.deep.equal(result);
    const failed: RunResult = { ...result, status: "failed", final: null, threshold_steps: {}, error: "boom" };
    expect(decodeRunResult(encodeRunResult(failed))).to.deep.equal(failed);
    const info = { sweep_id: "s", name: "n", spec_json: "{}", total_runs: 75, code_version: "v", created_ms: 1764253000000 };
    expect(decodeSweepInfo(encodeSweepInfo(info))).to.deep.equal(info);
  });

  it("malformed - bytes that are not a Job, or a Job with a bad spec, raise ProtocolError with the reason", () => {
    expect(() => decodeJob(Uint8Array.from([0xff, 0xff, 0xff, 0xff]))).to.throw(ProtocolError, "malformed Job");
    expect(() => decodeJob(new Uint8Array(0))).to.throw(ProtocolError, "run_id is empty");
    const bad = dtf.v1.Job.encode({ run_id: "x", sweep_id: "s", attempt: 1, spec: { model: "cpx", order: 3, dim: [4, 4, 4] } }).finish();
    expect(() => decodeJob(bad)).to.throw(ProtocolError, "Job x has an invalid spec: model: must be one of cp, tucker, matrix");
  });

  it("sweep record - the one checked codec of the KV record: round trip, a JSON record of earlier versions, and every malformed one refused", () => {
    const info = { sweep_id: "tiny-0123456789", name: "tiny", spec_json: '{"name":"tiny"}', total_runs: 12, code_version: "abc", created_ms: 1_765_000_000_000 };
    expect(decodeSweepRecord(encodeSweepRecord(info), info.sweep_id)).to.deep.equal(info);
    expect(decodeSweepRecord(new TextEncoder().encode(JSON.stringify(info)), info.sweep_id), "JSON, as written before").to.deep.equal(info);
    const refused: [string, Uint8Array][] = [
      ["names sweep other", encodeSweepRecord({ ...info, sweep_id: "other" })],
      ["holds no spec", encodeSweepRecord({ ...info, spec_json: "" })],
      ["total_runs is 0", encodeSweepRecord({ ...info, total_runs: 0 })],
      ["malformed SweepInfo", Uint8Array.from([0xff, 0xff, 0xff])],
      ["malformed SweepInfo", new TextEncoder().encode("{not json")],
      ["total_runs is undefined", new TextEncoder().encode(JSON.stringify({ ...info, total_runs: undefined }))],
    ];
    for (const [why, bytes] of refused) expect(() => decodeSweepRecord(bytes, info.sweep_id), why).to.throw(ProtocolError, why);
  });

  it("schema lint - buf lint passes on proto/", () => {
    const buf = `${root}node_modules/.bin/buf`;
    const out = execFileSync(buf, ["lint"], { cwd: root, encoding: "utf8", timeout: 60_000 });
    expect(out.trim()).to.equal("");
  });

  /** Field numbers used twice in a message, or a field that takes a `reserved` number. */
  function reusedFieldNumbers(proto: string): string[] {
    const problems: string[] = [];
    for (const body of proto.split(/^message /m).slice(1)) {
      const name = body.split(/\s/)[0];
      const text = body.split("\n}")[0];
      const used = [...text.matchAll(/^\s*(?:repeated\s+|optional\s+)?[\w.<>, ]+\s+\w+\s*=\s*(\d+);/gm)].map((m) => m[1]);
      const reserved = [...text.matchAll(/^\s*reserved\s+([\d,\s]+);/gm)].flatMap((m) => m[1].split(",").map((x) => x.trim()));
      const seen = new Set<string>();
      for (const n of used) {
        if (seen.has(n)) problems.push(`${name}: ${n} used twice`);
        if (reserved.includes(n)) problems.push(`${name}: ${n} is reserved`);
        seen.add(n);
      }
    }
    return problems;
  }

  it("schema - field numbers are never reused (each message's numbers are unique, reserved ones unused)", () => {
    // the check itself finds both kinds of reuse
    expect(reusedFieldNumbers("message A {\n  string a = 1;\n  uint32 b = 1;\n}\n")).to.deep.equal(["A: 1 used twice"]);
    expect(reusedFieldNumbers("message B {\n  reserved 2, 3;\n  repeated double c = 3;\n}\n")).to.deep.equal(["B: 3 is reserved"]);
    expect(reusedFieldNumbers("message C {\n  map<string, uint32> m = 1;\n  string d = 2;\n}\n")).to.deep.equal([]);
    for (const file of ["run", "metrics", "result", "sweep"]) {
      expect(reusedFieldNumbers(readFileSync(`${root}proto/dtf/v1/${file}.proto`, "utf8")), file).to.deep.equal([]);
    }
  });
});
