import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runAggregator } from "@dtf/aggregator";
import { submitSweep } from "@dtf/coordinator";
import { type MetricPoint, resolveRunSpec, train } from "@dtf/engine";
import { decodeRunResult, encodeMetricBatch, encodeRunResult, KEYS, type RunResult, STREAMS, SUBJECTS } from "@dtf/protocol";
import { ensureAggregatorConsumer } from "@dtf/protocol/nats";
import { openForReading, ResultStore } from "@dtf/store";
import { expandRuns, loadSweepText, runIdOf } from "@dtf/sweep";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { expect } from "chai";
import { dtf, expectSameRows, localThenSubmit, role, rows, status, stopped, tmp, until, waitDone, writeSpec } from "./support/dtf.ts";
import { NatsServer } from "./support/nats-server.ts";

/**
 * Regression tests of "trust the data" (issue 8), each against a real nats-server: what an
 * adversarial operator did that lost, mixed or forged data before, and must not any more.
 */
describe("trust the data - cluster mode (real nats-server)", function () {
  this.timeout(400_000);
  let server: NatsServer;
  afterEach(async () => server?.stop());

  /** One finished cluster sweep (worker + aggregator) and its local twin, shared by the forgery tests. */
  async function finishedSweep(dir: string, beforeWorkers: (sweepId: string) => Promise<void> = async () => undefined) {
    const { spec, local, sweepId } = await localThenSubmit(server.url, dir, 300);
    const out = join(dir, "cluster");
    const aggregator = role(["aggregate", "--out", out, "--nats", server.url]);
    await beforeWorkers(sweepId);
    const worker = role(["worker", "--threads", "2", "--nats", server.url]);
    await waitDone(server.url, sweepId, 12);
    await stopped(worker);
    return { spec, local, out, sweepId, aggregator };
  }

  it("metrics first - a run's result that arrives before its metric batches is stored (and the run marked done) only once they are", async () => {
    server = await NatsServer.start();
    const dir = tmp();
    const { sweepId, spec } = await localThenSubmit(server.url, dir, 300);
    const [first] = expandRuns(loadSweepText(readFileSync(spec, "utf8"), spec).sweep);
    // the run as a worker would report it, trained here
    const points: MetricPoint[] = [];
    const r = await train(first.spec, { onMetrics: (p) => points.push(p) });
    const job = { sweep_id: sweepId, run_id: first.runId, run_index: first.index, attempt: 1, spec: first.spec, point: first.point };
    const result: RunResult = {
      sweep_id: sweepId, run_id: first.runId, attempt: 1, status: r.status, stop_reason: r.stop_reason, steps: r.steps, final: points.at(-1)!,
      threshold_steps: {}, wall_ms: r.wall_ms, engine: r.engine, code_version: "test", worker_id: "w/0", error: "", job,
    };
    const nc = await connect({ servers: server.url });
    const js = jetstream(nc);
    const out = join(dir, "cluster");
    const aggregator = role(["aggregate", "--out", out, "--nats", server.url]);
    try {
      await js.publish(SUBJECTS.result(sweepId), encodeRunResult(result)); // the result first, as after a crash
      const half = Math.ceil(points.length / 2);
      await js.publish(SUBJECTS.metrics(sweepId), encodeMetricBatch({ sweep_id: sweepId, run_id: first.runId, run_index: first.index, attempt: 1, points: points.slice(0, half) }));
      await new Promise((res) => setTimeout(res, 4_000));
      expect((await status(server.url, sweepId))?.done, "done before all its metrics are in").to.equal(0);
      await js.publish(SUBJECTS.metrics(sweepId), encodeMetricBatch({ sweep_id: sweepId, run_id: first.runId, run_index: first.index, attempt: 1, points: points.slice(half) }));
      await waitDone(server.url, sweepId, 1, 60_000);
    } finally {
      await stopped(aggregator);
      await nc.close();
    }
    const stored = await rows(out);
    expect(stored.runs.map((x) => x.run_id)).to.deep.equal([first.runId]);
    expect(stored.metrics.map((x) => x.step)).to.deep.equal(points.map((p) => p.step));
  });

  it("two sweeps - a second sweep that shares runs with the first is not swallowed by the duplicate window; both complete and 'submitted' counts what the server took", async () => {
    server = await NatsServer.start();
    const dir = tmp();
    const a = await dtf(["submit", writeSpec(dir, 300, "a"), "--nats", server.url]);
    const b = await dtf(["submit", writeSpec(dir, 300, "b", [60, 120, 180]), "--nats", server.url]);
    expect(b.stderr).to.contain("submitted 18 of 18 runs");
    const again = await dtf(["submit", writeSpec(dir, 300, "b", [60, 120, 180]), "--nats", server.url]);
    expect(again.stderr, "a resubmission replaces what is queued").to.contain("submitted 18 of 18 runs (0 already done, 18 queued jobs replaced)");
    const queued = async (id: string) => JSON.parse((await dtf(["status", id, "--json", "--nats", server.url])).stdout).queued;
    expect([await queued(a.stdout.trim()), await queued(b.stdout.trim())], "nothing doubled").to.deep.equal([12, 18]);
    const out = join(dir, "out");
    const worker = role(["worker", "--threads", "2", "--nats", server.url]);
    const aggregator = role(["aggregate", "--out", out, "--nats", server.url]);
    try {
      expect((await waitDone(server.url, a.stdout.trim(), 12)).done).to.equal(12);
      expect((await waitDone(server.url, b.stdout.trim(), 18)).done).to.equal(18);
    } finally {
      await stopped(worker);
      await stopped(aggregator);
    }
    const store = await ResultStore.open(out);
    const perSweep = await store.query("SELECT s.name, count(*)::INTEGER AS runs FROM runs JOIN sweeps s USING (sweep_id) GROUP BY s.name ORDER BY 1");
    await store.close();
    expect(perSweep).to.deep.equal([
      { name: "a", runs: 12 },
      { name: "b", runs: 18 },
    ]);
  });

  it("forgery - results that overwrite a stored run (a rerun with the same outcome is no forgery), add a run outside the sweep, name another sweep, or carry values a column cannot hold are dead-lettered; metrics that rewrite stored steps are kept as first written; aggregation goes on", async () => {
    server = await NatsServer.start();
    const dir = tmp();
    const nc = await connect({ servers: server.url });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    // before any worker runs: a result for a run of the sweep with a value no column holds
    const { spec, local, out, sweepId, aggregator } = await finishedSweep(dir, async (id) => {
      const [first] = expandRuns(loadSweepText(readFileSync(join(dir, "tiny.yaml"), "utf8"), "tiny.yaml").sweep);
      const job = { sweep_id: id, run_id: first.runId, run_index: first.index, attempt: 1, spec: first.spec, point: first.point };
      const unstorable: RunResult = {
        sweep_id: id, run_id: first.runId, attempt: 1, status: "ok", stop_reason: "max_steps", steps: 3_000_000_000, final: null,
        threshold_steps: {}, wall_ms: 1, engine: "js", code_version: "x", worker_id: "mallory", error: "", job,
      };
      await js.publish(SUBJECTS.result(id), encodeRunResult(unstorable));
    });
    try {
      const [first, second] = [...expandRuns(loadSweepText(readFileSync(spec, "utf8"), spec).sweep)];
      const genuine = await storedResultOf(nc, sweepId, first.runId);
      const forge = (r: Partial<RunResult>, subject = SUBJECTS.result(sweepId)) => js.publish(subject, encodeRunResult({ ...genuine, ...r }));
      // the same run computed again by another attempt (an ack lost in a failover): the same outcome, so acked quietly
      await forge({ attempt: 2, worker_id: "second-worker" });
      await forge({ stop_reason: "forged", attempt: 7, worker_id: "mallory" }); // overwrite a stored run
      const outsider = resolveRunSpec({ ...first.spec, seed: 99 });
      const outsiderJob = { ...genuine.job!, spec: outsider, run_id: runIdOf(outsider), point: { ...first.point, seed: 99 } };
      await forge({ run_id: outsiderJob.run_id, job: outsiderJob }); // a run not in the sweep
      await forge({}, SUBJECTS.result("other-sweep")); // payload and subject disagree
      await forge({ run_id: second.runId, job: { ...genuine.job!, run_id: second.runId, run_index: second.index } }); // another run's id and index on this run's spec
      const batch = { sweep_id: sweepId, run_id: first.runId, run_index: first.index, attempt: 1, points: [{ ...genuine.final!, step: 0, train_loss: 1234.5 }] };
      await js.publish(SUBJECTS.metrics(sweepId), encodeMetricBatch(batch)); // rewrite a stored step
      await js.publish(SUBJECTS.metrics("nosuchsweep"), encodeMetricBatch({ ...batch, sweep_id: "nosuchsweep" })); // an unknown sweep
      // metric points no genuine worker sends: a new step of a finished run, a step past the spec's
      // steps, an 800 KB list, and a job whose point has an extra key equal to its base value
      const points = (step: number, over = {}) => ({ ...batch, points: [{ ...genuine.final!, step, ...over }] });
      await js.publish(SUBJECTS.metrics(sweepId), encodeMetricBatch(points(150)));
      await js.publish(SUBJECTS.metrics(sweepId), encodeMetricBatch(points(99_999_999)));
      await js.publish(SUBJECTS.metrics(sweepId), encodeMetricBatch(points(100, { component_norms: Array.from({ length: 100_000 }, () => 1) })));
      await forge({ job: { ...genuine.job!, point: { ...genuine.job!.point, order: 3 } } });
      await js.publish(SUBJECTS.metrics(sweepId), encodeMetricBatch({ ...points(100), run_index: second.index })); // a run's id at another run's index
      await until(
        async () => (await jsm.streams.info("DTF_DLQ")).state.messages === 12,
        60_000,
        async () => `dead letters: ${(await dtf(["dlq", sweepId, "--nats", server.url])).stdout}\n${aggregator.log()}`,
      );
      const s = (await status(server.url, sweepId))!;
      expect([s.done, s.dead], "12 genuine runs, 10 letters of this sweep").to.deep.equal([12, 10]);
      const letters = (await dtf(["dlq", sweepId, "--nats", server.url])).stdout;
      for (const reason of [
        "runs.steps must be an integer",
        "is already stored (attempt 1",
        "is not a run of sweep",
        "the point or spec sent with run",
        "repeat stored steps with other values",
        "is stored finished; its metric batch adds step 150",
        "step 99999999: not a step of a run of 300 steps",
        "component_norms has 100000 values, the spec implies 10",
        "has keys depth, observations, order, seed",
        `(not the run at index ${second.index})`,
      ]) {
        expect(letters).to.contain(reason);
      }
      const elsewhere = async (subject: string) => (await jsm.streams.info("DTF_DLQ", { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
      expect(await elsewhere(SUBJECTS.dlq("other-sweep"))).to.equal(1);
      expect(await elsewhere(SUBJECTS.dlq("nosuchsweep"))).to.equal(1);
      expect(aggregator.log()).to.contain("dead-lettered a message on");
      expect(letters).to.not.contain("second-worker");
      // requeueing moves only dead jobs: these letters are records, not work
      expect((await dtf(["dlq", sweepId, "--requeue", "--nats", server.url])).stdout).to.contain("0 dead jobs requeued, 10 letters that are not jobs kept");
      // a later, genuine sweep is still aggregated: nothing wedged
      const next = await dtf(["submit", writeSpec(dir, 300, "after"), "--nats", server.url]);
      const worker = role(["worker", "--threads", "2", "--nats", server.url]);
      try {
        expect((await waitDone(server.url, next.stdout.trim(), 12)).done).to.equal(12);
      } finally {
        await stopped(worker);
      }
    } finally {
      await nc.close();
      await stopped(aggregator);
    }
    await expectSameRows(local, out, sweepId);
  });

  it("two aggregators - two stores on different directories each get every run of the sweep (one consumer per store), both equal to dtf run", async () => {
    server = await NatsServer.start();
    const dir = tmp();
    const { local, sweepId } = await localThenSubmit(server.url, dir, 1500);
    const one = role(["aggregate", "--out", join(dir, "one"), "--nats", server.url]);
    const two = role(["aggregate", "--out", join(dir, "two"), "--nats", server.url, "--sweep", sweepId]);
    const worker = role(["worker", "--threads", "2", "--nats", server.url]);
    try {
      await waitDone(server.url, sweepId, 12);
      // both stores have it all (the done markers may come from either)
      for (const store of ["one", "two"]) {
        await until(async () => (await countRuns(join(dir, store))) === 12, 30_000, () => `${store} is incomplete`);
      }
    } finally {
      await stopped(worker);
      await stopped(one);
      await stopped(two);
    }
    await expectSameRows(local, join(dir, "one"));
    await expectSameRows(local, join(dir, "two"));
    // a new store of one sweep starts at that sweep's first message: all of this sweep's, none of the older ones'
    const later = (await dtf(["submit", writeSpec(dir, 300, "later"), "--nats", server.url])).stdout.trim();
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      const pending = async (store: string, sweep?: string) => (await jsm.consumers.info(STREAMS.results, await ensureAggregatorConsumer(nc, store, sweep))).num_pending;
      const inStream = (await jsm.streams.info(STREAMS.results)).state.messages;
      expect(await pending("fresh-all"), "a store of every sweep").to.equal(inStream);
      expect(await pending("fresh-one", sweepId), "a store of the finished sweep: all of it").to.equal(inStream);
      expect(await pending("fresh-later", later), "a store of the later sweep: nothing older").to.equal(0);
    } finally {
      await nc.close();
    }
  });

  it("readers - dtf export and dtf report work on a store while its aggregator writes it (a snapshot on request)", async () => {
    server = await NatsServer.start();
    const dir = tmp();
    const { out, sweepId, aggregator } = await finishedSweep(dir);
    try {
      expect(aggregator.exitCode, "still aggregating").to.equal(null);
      const exported = await dtf(["export", out, "--format", "csv", "--to", join(dir, "csv")]);
      expect(exported.code, exported.stderr).to.equal(0);
      expect(readFileSync(join(dir, "csv", "runs.csv"), "utf8").trim().split("\n")).to.have.length(13);
      const report = await dtf(["report", out]);
      expect(report.code, report.stderr).to.equal(0);
      expect(report.stdout).to.contain("12 runs");
      expect(readFileSync(join(out, "report.html"), "utf8")).to.contain(sweepId);
    } finally {
      await stopped(aggregator);
    }
    expect(existsSync(join(out, ".writer.json")), "the writer's record is removed when it stops").to.equal(false);
  });

  it("locked store - a second aggregator on a directory another one writes exits 1 with the reason instead of hanging", async () => {
    server = await NatsServer.start();
    const dir = tmp();
    const first = role(["aggregate", "--out", join(dir, "out"), "--nats", server.url]);
    try {
      await until(() => first.log().includes("aggregating into"), 30_000, () => first.log());
      const t = Date.now();
      const second = await dtf(["aggregate", "--out", join(dir, "out"), "--nats", server.url]);
      expect(second.code).to.equal(1);
      expect(second.stderr).to.contain("another process (an aggregator or dtf run) is writing it");
      expect(second.stderr).to.not.contain("    at ");
      expect(Date.now() - t).to.be.below(15_000);
    } finally {
      await stopped(first);
    }
  });

  it("server kill -9 - nats-server killed mid-sweep and restarted: every run lands once, rows equal dtf run, and status ends with nothing queued or running", async () => {
    server = await NatsServer.start();
    const dir = tmp();
    const { local, sweepId } = await localThenSubmit(server.url, dir, 3000);
    const out = join(dir, "cluster");
    const worker = role(["worker", "--threads", "2", "--nats", server.url]);
    const aggregator = role(["aggregate", "--out", out, "--nats", server.url]);
    try {
      await until(async () => ((await status(server.url, sweepId))?.done ?? 0) >= 4, 120_000, () => "no progress");
      await server.kill();
      await new Promise((r) => setTimeout(r, 500));
      await server.restart();
      await waitDone(server.url, sweepId, 12, 240_000);
      await until(
        async () => {
          const s = await status(server.url, sweepId);
          return s !== null && s.queued === 0 && s.running === 0;
        },
        30_000,
        async () => `status after completion: ${JSON.stringify(await status(server.url, sweepId))}`,
      );
    } finally {
      await stopped(worker);
      await stopped(aggregator);
    }
    await expectSameRows(local, out);
    expect((await rows(out)).runs).to.have.length(12);
  });

  it("disk full - commits that fail for lack of space are logged and their messages handed back; once space is back the sweep completes with nothing lost", async function () {
    const mountPoint = smallDisk(this);
    try {
      server = await NatsServer.start();
      const dir = tmp();
      const { local, sweepId } = await localThenSubmit(server.url, dir, 3000);
      const out = join(mountPoint, "store");
      const aggregator = role(["aggregate", "--out", out, "--nats", server.url]);
      let worker: ReturnType<typeof role> | null = null;
      try {
        await until(() => aggregator.log().includes("aggregating into"), 30_000, () => aggregator.log());
        const filler = join(mountPoint, "filler");
        spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4k"], { stdio: "ignore", timeout: 60_000 }); // fills the disk
        worker = role(["worker", "--threads", "2", "--nats", server.url]);
        await until(() => aggregator.log().includes("commit failed"), 120_000, () => `no commit failed: ${aggregator.log()}`);
        rmSync(filler);
        await waitDone(server.url, sweepId, 12, 240_000);
      } finally {
        if (worker) await stopped(worker);
        await stopped(aggregator);
      }
      expect(aggregator.log()).to.match(/commit failed, \d+ messages handed back for redelivery \(retried until it succeeds\): .*(space|disk|write)/i);
      await expectSameRows(local, out);
    } finally {
      execFileSync("umount", ["-l", mountPoint], { timeout: 30_000 });
    }
  });

  it("disk full, deterministic - metrics whose commit failed are not counted for their result: the run is marked done only once they are stored again", async function () {
    const mountPoint = smallDisk(this);
    server = await NatsServer.start();
    const nc = await connect({ servers: server.url });
    const stop = new AbortController();
    let store: ResultStore | null = null;
    let aggregating: Promise<unknown> = Promise.resolve();
    try {
      const loaded = loadSweepText("name: full\nbase: { order: 3, dim: 5, components: 8, observations: 40, steps: 300, eval_every: 20 }\n", "full.yaml");
      await submitSweep(nc, loaded);
      const [run] = expandRuns(loaded.sweep);
      const points: MetricPoint[] = [];
      const r = await train(run.spec, { onMetrics: (p) => points.push(p) });
      const job = { sweep_id: loaded.sweepId, run_id: run.runId, run_index: run.index, attempt: 1, spec: run.spec, point: run.point };
      const result: RunResult = {
        sweep_id: loaded.sweepId, run_id: run.runId, attempt: 1, status: r.status, stop_reason: r.stop_reason, steps: r.steps, final: points.at(-1)!,
        threshold_steps: {}, wall_ms: r.wall_ms, engine: r.engine, code_version: "test", worker_id: "w/0", error: "", job,
      };
      store = await ResultStore.open(join(mountPoint, "store"));
      const log: string[] = [];
      // handed-back messages return after 20 s: the result below is handled long before its metrics come back
      aggregating = runAggregator(nc, store, { signal: stop.signal, retryDelayMs: 20_000, log: (line) => log.push(line) });
      const filler = join(mountPoint, "filler");
      spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4k"], { stdio: "ignore", timeout: 60_000 }); // fills the disk
      const js = jetstream(nc);
      await js.publish(SUBJECTS.metrics(loaded.sweepId), encodeMetricBatch({ sweep_id: loaded.sweepId, run_id: run.runId, run_index: run.index, attempt: 1, points }));
      await until(() => log.some((l) => l.includes("commit failed")), 60_000, () => `no commit failed: ${log.join("\n")}`);
      rmSync(filler);
      await js.publish(SUBJECTS.result(loaded.sweepId), encodeRunResult(result));
      const kv = await new Kvm(nc).open("dtf_sweeps");
      await until(async () => (await kv.get(KEYS.done(loaded.sweepId, run.runId)))?.operation === "PUT", 120_000, () => `never marked done:\n${log.join("\n")}`);
      expect(await store.countMetricSteps(loaded.sweepId, run.runId), "evaluations stored when the run is marked done").to.equal(points.length);
    } finally {
      stop.abort();
      await aggregating.catch(() => undefined);
      await store?.close();
      await nc.close();
      execFileSync("umount", ["-l", mountPoint], { timeout: 30_000 });
    }
  });
});

/** A fresh 8 MiB tmpfs to fill (the test is skipped where mounting is not allowed; CI runs as root). */
function smallDisk(ctx: Mocha.Context): string {
  const mountPoint = tmp();
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mountPoint], { stdio: "ignore", timeout: 30_000 });
  } catch {
    ctx.skip();
  }
  return mountPoint;
}

/** The last result published for the run, re-read from the results stream (the worker's, a genuine message to forge from: an earlier one may be a test's forgery). */
async function storedResultOf(nc: NatsConnection, sweepId: string, runId: string): Promise<RunResult> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info("DTF_RESULTS");
  let last: RunResult | null = null;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage("DTF_RESULTS", { seq }).catch(() => null);
    if (m?.subject !== SUBJECTS.result(sweepId)) continue;
    const r = decodeRunResult(m.data);
    if (r.run_id === runId) last = r;
  }
  if (!last) throw new Error(`no result of ${runId}`);
  return last;
}

async function countRuns(dir: string): Promise<number> {
  const store = await openForReading(dir);
  try {
    const [{ n }] = await store.query<{ n: number }>("SELECT count(*)::INTEGER AS n FROM runs");
    return n;
  } finally {
    await store.close();
  }
}
