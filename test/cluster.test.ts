import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { runAggregator } from "@dtf/aggregator";
import { requeueDeadLetters, submitSweep, sweepStatus } from "@dtf/coordinator";
import { resolveRunSpec } from "@dtf/engine";
import {
  CONSUMERS,
  decodeJob,
  encodeJob,
  exampleServerConfig,
  inboxPrefix,
  ROLE_PERMISSIONS,
  type Role,
  STREAMS,
  SUBJECTS,
  serverAuthorization,
} from "@dtf/protocol";
import { deleteQueuedJobs, ensureTopology, publishDeadLetter, purgeIsSafe } from "@dtf/protocol/nats";
import { ResultStore } from "@dtf/store";
import { expandRuns, loadSweepText } from "@dtf/sweep";
import { type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { expect } from "chai";
import { dtf, expectSameRows, localThenSubmit, role, roleLogs, rows, status, stopped, tmp, until, waitDone, writeSpec } from "./support/dtf.ts";
import { freePort, NATS_210, NatsServer } from "./support/nats-server.ts";

describe("cluster mode (real nats-server)", function () {
  this.timeout(300_000);
  let server: NatsServer;
  afterEach(async () => server?.stop());

  it("cluster - submit, worker and aggregator store the same rows as dtf run; resubmitting skips finished runs", async () => {
    const dir = tmp();
    const spec = writeSpec(dir);
    const local = join(dir, "local");
    expect((await dtf(["run", spec, "--out", local, "--threads", "2"])).code).to.equal(0);

    server = await NatsServer.start();
    const submitted = await dtf(["submit", spec, "--nats", server.url]);
    expect(submitted.code, submitted.stderr).to.equal(0);
    const sweepId = submitted.stdout.trim();
    expect(submitted.stderr).to.contain("submitted 12 of 12 runs");
    const again = await dtf(["submit", spec, "--nats", server.url]); // before any worker: deduplicated by Nats-Msg-Id
    expect(again.code).to.equal(0);
    expect(JSON.parse((await dtf(["status", sweepId, "--json", "--nats", server.url])).stdout).queued).to.equal(12);

    const out = join(dir, "cluster");
    const worker = role(["worker", "--threads", "2", "--nats", server.url]);
    const aggregator = role(["aggregate", "--out", out, "--nats", server.url]);
    try {
      await waitDone(server.url, sweepId, 12);
    } finally {
      await stopped(worker);
      await stopped(aggregator);
    }
    await expectSameRows(local, out);
    const third = await dtf(["submit", spec, "--nats", server.url]);
    expect(third.stderr).to.contain("submitted 0 of 12 runs (12 already done)");
    // past DONE_SET_MAX done runs submit asks for each run's done key instead of listing them: the same answer
    const nc = await connect({ servers: server.url });
    try {
      const perRun = await submitSweep(nc, loadSweepText(readFileSync(spec, "utf8"), spec), { doneSetMax: 0 });
      expect(perRun).to.include({ skipped: 12, published: 0, alreadyQueued: 0 });
    } finally {
      await nc.close();
    }
  });

  it("reproduce --nats - the paper sweeps through a cluster store the rows (growth fits included) and verdicts of a local reproduce", async () => {
    const dir = tmp();
    const specs = join(dir, "specs");
    mkdirSync(join(specs, "quick"), { recursive: true });
    writeFileSync(
      join(specs, "quick", "F-3.yaml"),
      "name: tiny-F-3\nbase: { model: cp, order: 3, dim: 6, components: 36, target_rank: 1, init_std: 0.1, lr: 0.002, steps: 1500, eval_every: 100 }\ngrid: { depth: [1, 2], observations: [50, 80] }\nseeds: 3\n",
    );
    writeFileSync(join(specs, "quick", "F-3-matched.yaml"), readFileSync(join(specs, "quick", "F-3.yaml"), "utf8").replace("tiny-F-3", "tiny-F-3-matched").replace("lr: 0.002", "lr: 0.002, init_mode: end_to_end"));
    writeFileSync(
      join(specs, "quick", "F-5.yaml"),
      "name: tiny-F-5\nbase: { model: cp, order: 3, dim: 6, components: 12, target_rank: 1, target_norm: 10, observations: 120, init_std: 0.1, init_mode: balanced, optimizer: gd, lr: 0.1, steps: 2000, eval_every: 500, trace_every: 5 }\ngrid: { depth: [1, 2] }\nseeds: 3\n",
    );
    const local = join(dir, "local");
    const ran = await dtf(["reproduce", "F-3", "F-5", "--specs", specs, "--out", local, "--threads", "2"]);
    expect(ran.code, ran.stderr).to.equal(0);

    server = await NatsServer.start();
    const worker = role(["worker", "--threads", "2", "--nats", server.url]);
    const out = join(dir, "cluster");
    let clustered: Awaited<ReturnType<typeof dtf>>;
    try {
      clustered = await dtf(["reproduce", "F-3", "F-5", "--specs", specs, "--out", out, "--nats", server.url]);
    } finally {
      await stopped(worker);
    }
    expect(clustered.code, clustered.stderr).to.equal(0);
    expect(clustered.stdout).to.match(/^F-3: sweep tiny-F-3-\w+ submitted \(12 published, 0 already done\)$/m);
    await expectSameRows(local, out);
    const verdicts = (text: string) => text.split("\n").filter((l) => / — [a-z-]+: /.test(l));
    expect(verdicts(clustered.stdout)).to.deep.equal(verdicts(ran.stdout));
    expect(verdicts(ran.stdout).some((l) => l.includes("growth-law"))).to.equal(true);
    expect(readFileSync(join(out, "index.html"), "utf8")).to.contain('href="F-5/report.html"');
    // into another directory, once the cluster is done: nothing runs, the results are replayed into the new store
    const other = join(dir, "other");
    const replayed = await dtf(["reproduce", "F-3", "F-5", "--specs", specs, "--out", other, "--nats", server.url]);
    expect(replayed.code, replayed.stderr).to.equal(0);
    expect(replayed.stdout).to.match(/^F-3: sweep tiny-F-3-\w+ submitted \(0 published, 12 already done\)$/m);
    await expectSameRows(local, other);
  });

  it("redelivery - a worker SIGKILLed mid-training: its jobs come back after the ack wait and land exactly once", async () => {
    const dir = tmp();
    const spec = writeSpec(dir, 50000); // ≈ 1 s per run here: the kill finds both slots training on a machine a few times faster too
    server = await NatsServer.start();
    const nc = await connect({ servers: server.url });
    await ensureTopology(nc, { ackWaitMs: 2000, maxDeliver: 5 });
    await nc.close();
    const sweepId = (await dtf(["submit", spec, "--nats", server.url])).stdout.trim();
    const out = join(dir, "cluster");
    const aggregator = role(["aggregate", "--out", out, "--nats", server.url]);
    const doomed = role(["worker", "--threads", "2", "--nats", server.url, "--ack-wait-ms", "2000", "--max-deliver", "5"]);
    await until(async () => ((await status(server.url, sweepId))?.running ?? 0) >= 2, 60_000, () => `both slots never trained:\n${roleLogs()}`, 100);
    await new Promise((r) => setTimeout(r, 500)); // both slots are training
    await stopped(doomed, "SIGKILL");
    const worker = role(["worker", "--threads", "2", "--nats", server.url, "--ack-wait-ms", "2000", "--max-deliver", "5"]);
    try {
      const status = await waitDone(server.url, sweepId, 12, 180_000);
      expect(status.done).to.equal(12);
    } finally {
      await stopped(worker);
      await stopped(aggregator);
    }
    const r = await rows(out);
    expect(r.runs).to.have.length(12);
    expect(new Set(r.runs.map((x) => x.run_id)).size).to.equal(12);
    expect(r.attempts.some((x) => x.attempt >= 2), `a run was redelivered: ${JSON.stringify(r.attempts)}`).to.equal(true);
    // every run's evaluations are all there, once: 0, 100, …, its last step
    for (const run of r.runs) {
      const steps = r.metrics.filter((m) => m.run_id === run.run_id).map((m) => m.step as number);
      const last = run.steps as number;
      const expected = [...Array.from({ length: Math.floor(last / 100) + 1 }, (_, i) => i * 100), ...(last % 100 ? [last] : [])];
      expect(steps, run.run_id as string).to.deep.equal(expected);
    }
  });

  const untilDone = (url: string, sweepId: string, atLeast: number) =>
    until(async () => ((await status(url, sweepId))?.done ?? 0) >= atLeast, 120_000, () => `fewer than ${atLeast} runs done:\n${roleLogs()}`, 200);

  for (const what of ["aggregator", "nats-server"] as const) {
    it(`restart - ${what} restarted mid-sweep: the sweep completes with no metric point lost or duplicated`, async () => {
      const dir = tmp();
      server = await NatsServer.start();
      const { local, sweepId } = await localThenSubmit(server.url, dir, 8000);
      const out = join(dir, "cluster");
      const worker = role(["worker", "--threads", "2", "--nats", server.url]);
      let aggregator = role(["aggregate", "--out", out, "--nats", server.url]);
      try {
        await untilDone(server.url, sweepId, 3);
        if (what === "aggregator") {
          await stopped(aggregator, "SIGKILL");
          aggregator = role(["aggregate", "--out", out, "--nats", server.url]);
        } else {
          await server.stop();
          await new Promise((r) => setTimeout(r, 1000));
          await server.restart();
        }
        // messages the killed aggregator held come back after its consumer's 60 s ack wait
        await waitDone(server.url, sweepId, 12, 200_000);
      } finally {
        await stopped(worker);
        await stopped(aggregator);
      }
      await expectSameRows(local, out);
    });
  }

  it("dead letters - garbage on the job subject is dead-lettered with its reason; the worker keeps working", async () => {
    const dir = tmp();
    const spec = writeSpec(dir, 500);
    server = await NatsServer.start();
    const sweepId = (await dtf(["submit", spec, "--nats", server.url])).stdout.trim();
    const nc = await connect({ servers: server.url });
    await jetstream(nc).publish(`dtf.jobs.${sweepId}`, new TextEncoder().encode("definitely not protobuf"));
    await nc.close();
    const out = join(dir, "cluster");
    const worker = role(["worker", "--threads", "2", "--nats", server.url]);
    const aggregator = role(["aggregate", "--out", out, "--nats", server.url]);
    try {
      const status = await waitDone(server.url, sweepId, 13);
      expect(status.done).to.equal(12);
      expect(status.dead).to.equal(1);
    } finally {
      await stopped(worker);
      await stopped(aggregator);
    }
    const dlq = await dtf(["dlq", sweepId, "--nats", server.url]);
    expect(dlq.stdout).to.contain("malformed Job");
  });

  for (const [version, binary] of [["2.9", undefined], ["2.10", NATS_210]] as const) {
  it(`cancel (nats-server ${version}) - a cancelled sweep's queued jobs are removed; submitting it again queues them again and it completes`, async () => {
    const dir = tmp();
    const spec = writeSpec(dir, 300);
    server = await NatsServer.start(null, {}, { binary });
    const sweepId = (await dtf(["submit", spec, "--nats", server.url])).stdout.trim();
    const cancel = await dtf(["cancel", sweepId, "--nats", server.url]);
    expect(cancel.stdout).to.contain("cancelled, 12 queued jobs removed");
    const status = JSON.parse((await dtf(["status", sweepId, "--json", "--nats", server.url])).stdout);
    expect(status).to.include({ queued: 0, cancelled: true });
    const again = await dtf(["submit", spec, "--nats", server.url]);
    expect(again.stderr).to.contain("submitted 12 of 12 runs");
    expect(JSON.parse((await dtf(["status", sweepId, "--json", "--nats", server.url])).stdout)).to.include({ queued: 12, cancelled: false });
    const worker = role(["worker", "--threads", "2", "--nats", server.url]);
    const aggregator = role(["aggregate", "--out", join(dir, "out"), "--nats", server.url]);
    try {
      expect((await waitDone(server.url, sweepId, 12)).done).to.equal(12);
    } finally {
      await stopped(worker);
      await stopped(aggregator);
    }
  });
  }

  // How deleteQueuedJobs clears a sweep's queue depends on the server: a filtered purge from 2.10.14,
  // deletes one by one before (and with DTF_NO_PURGE=1). Each way, on the server it is meant for,
  // must leave every other sweep's jobs deliverable, those in flight included.
  for (const way of [
    { name: "nats-server 2.9, one by one", binary: undefined, noPurge: false, safeVersion: false },
    { name: "nats-server 2.10, filtered purge", binary: NATS_210, noPurge: false, safeVersion: true },
    { name: "nats-server 2.10 with DTF_NO_PURGE=1, one by one", binary: NATS_210, noPurge: true, safeVersion: true },
  ]) {
    it(`clearing a sweep's queue (${way.name}) - the jobs of every other sweep stay deliverable, in flight or queued`, async () => {
      server = await NatsServer.start(null, {}, { binary: way.binary });
      const nc = await connect({ servers: server.url });
      const before = process.env.DTF_NO_PURGE;
      if (way.noPurge) process.env.DTF_NO_PURGE = "1";
      try {
        expect(purgeIsSafe(nc.info?.version), `server ${nc.info?.version}`).to.equal(way.safeVersion);
        await ensureTopology(nc);
        const js = jetstream(nc);
        const spec = resolveRunSpec({ steps: 1 });
        const job = (sweep: string, run: string) => encodeJob({ sweep_id: sweep, run_id: run, run_index: 0, attempt: 1, spec, point: {} });
        await js.publish(SUBJECTS.job("a"), job("a", "a1"));
        await js.publish(SUBJECTS.job("a"), job("a", "a2"));
        await js.publish(SUBJECTS.job("b"), job("b", "b1"));
        await js.publish(SUBJECTS.job("b"), job("b", "b2"));
        const consumer = await js.consumers.get(STREAMS.jobs, CONSUMERS.workers);
        const taken = await consumer.next();
        expect(taken?.subject).to.equal(SUBJECTS.job("a"));
        await taken!.ackAck();
        expect(await deleteQueuedJobs(nc, "a")).to.equal(1); // a2
        expect(await deleteQueuedJobs(nc, "a")).to.equal(0); // nothing left: must not disturb b either
        const drain = async () => {
          const got: string[] = [];
          for (let m = await consumer.next({ expires: 2000 }); m; m = await consumer.next({ expires: 1000 })) {
            got.push(decodeJob(m.data).run_id);
            await m.ackAck();
          }
          return got;
        };
        expect(await drain()).to.deep.equal(["b1", "b2"]);
        // two sweeps interleaved across every lane of the parallel deletion, 20 jobs in flight when c is cleared
        const pending = [];
        for (let i = 0; i < 300; i++) pending.push(js.publish(SUBJECTS.job(i % 2 ? "c" : "d"), job(i % 2 ? "c" : "d", `r${i}`)));
        await Promise.all(pending);
        const inFlight: JsMsg[] = [];
        for (let i = 0; i < 20; i++) inFlight.push((await consumer.next())!);
        expect(await deleteQueuedJobs(nc, "c")).to.equal(150);
        const jsm = await jetstreamManager(nc);
        const left = (await jsm.streams.info(STREAMS.jobs, { subjects_filter: "dtf.jobs.>" })).state.subjects;
        expect(left).to.deep.equal({ [SUBJECTS.job("d")]: 150 });
        for (const m of inFlight) await m.ackAck(); // acks of removed jobs are harmless
        const rest = await drain();
        const expected = Array.from({ length: 150 }, (_, k) => `r${2 * k}`).filter((id) => !inFlight.some((m) => decodeJob(m.data).run_id === id));
        expect(rest, "each queued job of d once, in order").to.deep.equal(expected);
        expect((await jsm.streams.info(STREAMS.jobs)).state.messages, "the queue is clean").to.equal(0);
      } finally {
        if (before === undefined) delete process.env.DTF_NO_PURGE;
        else process.env.DTF_NO_PURGE = before;
        await nc.close();
      }
    });
  }

  it("nats-server 2.9's filtered purge - loses other sweeps' jobs (why deleteQueuedJobs does not purge there)", async () => {
    // the negative control of the test above: were 2.9 ever fixed, purgeIsSafe could say so
    server = await NatsServer.start();
    const nc = await connect({ servers: server.url });
    try {
      await ensureTopology(nc);
      const js = jetstream(nc);
      const spec = resolveRunSpec({ steps: 1 });
      for (const [sweep, run] of [["a", "a1"], ["a", "a2"], ["b", "b1"], ["b", "b2"]]) {
        await js.publish(SUBJECTS.job(sweep), encodeJob({ sweep_id: sweep, run_id: run, run_index: 0, attempt: 1, spec, point: {} }));
      }
      const consumer = await js.consumers.get(STREAMS.jobs, CONSUMERS.workers);
      await (await consumer.next())!.ackAck(); // a1
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.purge(STREAMS.jobs, { filter: SUBJECTS.job("a") })).purged).to.equal(1);
      const got: string[] = [];
      for (let m = await consumer.next({ expires: 2000 }); m; m = await consumer.next({ expires: 1000 })) {
        got.push(m.subject);
        await m.ackAck();
      }
      expect(got, "b's two jobs, still in the stream, are never delivered").to.deep.equal([]);
      expect((await jsm.streams.info(STREAMS.jobs)).state.messages).to.equal(2);
    } finally {
      await nc.close();
    }
  });

  it("dead letters - a job never acked max_deliver times (its workers died) is dead-lettered by the aggregator, and can be requeued", async () => {
    server = await NatsServer.start();
    const nc = await connect({ servers: server.url });
    try {
      await ensureTopology(nc, { ackWaitMs: 1000, maxDeliver: 2 });
      const loaded = loadSweepText("name: stuck\nbase: { order: 3, dim: 4, components: 8, observations: 30, steps: 50 }\n", "stuck.yaml");
      await submitSweep(nc, loaded); // one run, its job queued
      const js = jetstream(nc);
      const store = await ResultStore.open(tmp());
      const stop = new AbortController();
      const aggregating = runAggregator(nc, store, { signal: stop.signal });
      const consumer = await js.consumers.get(STREAMS.jobs, CONSUMERS.workers);
      const taken = await consumer.next({ expires: 2000 });
      expect(taken).to.not.equal(null); // taken, never acked: its worker "died"
      await new Promise((r) => setTimeout(r, 1300));
      expect((await consumer.next({ expires: 3000 }))?.info.deliveryCount).to.equal(2); // and again
      await new Promise((r) => setTimeout(r, 1300));
      // live workers keep pulling; a pull after the last ack wait is when the server gives up on it
      expect(await consumer.next({ expires: 2000 })).to.equal(null);
      const jsm = await jetstreamManager(nc);
      await until(async () => (await jsm.streams.info(STREAMS.dlq)).state.messages >= 1, 15_000, () => "the job never reached the dead letters", 100);
      const letter = await jsm.streams.getMessage(STREAMS.dlq, { seq: 1 });
      const runId = [...expandRuns(loaded.sweep)][0].runId;
      expect(letter!.header!.get("Dtf-Reason")).to.contain("delivered 2 times without an ack");
      expect(letter!.header!.get("Dtf-Run-Id")).to.equal(runId);
      expect((await jsm.streams.info(STREAMS.jobs)).state.messages).to.equal(0);
      // the run failed (its workers died each time): status says so, and that the sweep is over
      await until(async () => (await sweepStatus(nc, loaded.sweepId)).failed === 1, 15_000, () => "the run was never counted failed", 100);
      expect(await sweepStatus(nc, loaded.sweepId)).to.include({ done: 0, failed: 1, queued: 0, running: 0, finished: true, etaMs: null });
      expect(await requeueDeadLetters(nc, loaded.sweepId)).to.deep.equal({ requeued: 1, kept: 0, refused: 0 }); // dtf dlq --requeue
      expect((await jsm.streams.info(STREAMS.jobs)).state.messages).to.equal(1);
      expect(await sweepStatus(nc, loaded.sweepId), "requeued: queued again, failed until it finishes").to.include({ failed: 1, queued: 1, finished: false });
      expect((await jsm.streams.info(STREAMS.dlq)).state.messages).to.equal(0);
      stop.abort();
      await aggregating;
      await store.close();
    } finally {
      await nc.close();
    }
  });

  it("dead letters - requeue rebuilds each job from the sweep's record: a forged letter's run or spec never reaches the workers; dlq lists only its sweep's letters", async () => {
    server = await NatsServer.start();
    const nc = await connect({ servers: server.url });
    try {
      const dir = tmp();
      const file = join(dir, "two.yaml");
      writeFileSync(file, "name: two\nbase: { order: 3, dim: 4, components: 8, observations: 30, steps: 50 }\nseeds: 2\n");
      const submitted = await dtf(["submit", file, "--nats", server.url]);
      const sweepId = submitted.stdout.trim();
      const planned = [...expandRuns(loadSweepText(readFileSync(file, "utf8"), file).sweep)];
      const jsm = await jetstreamManager(nc);
      await jsm.streams.purge(STREAMS.jobs); // as if both jobs had been taken and lost
      // what a worker credential may publish: dead letters carrying jobs of its own making
      const forged = (runId: string, spec: Record<string, unknown>) => encodeJob({ sweep_id: sweepId, run_id: runId, run_index: 1, attempt: 1, spec: resolveRunSpec(spec), point: {} });
      await publishDeadLetter(nc, sweepId, forged("made-up", { order: 3, dim: 4, steps: 99_999 }), "forged: a run of no sweep", "made-up");
      await publishDeadLetter(nc, sweepId, forged(planned[1].runId, { order: 3, dim: 4, steps: 99_999, lr: 1 }), "forged: a real run with another spec", planned[1].runId);
      for (let i = 0; i < 30; i++) await publishDeadLetter(nc, "other-0000000000", new Uint8Array([i]), "another sweep's letter", "");
      const listed = await dtf(["dlq", sweepId, "--nats", server.url]);
      expect(listed.stdout.trim().split("\n").map((l) => l.split("\t")[1])).to.deep.equal(["made-up", planned[1].runId]);
      const requeued = await dtf(["dlq", sweepId, "--requeue", "--nats", server.url]);
      expect(requeued.stdout.trim()).to.equal("1 dead jobs requeued, 1 letters naming no run of the sweep refused");
      const queued = await jsm.streams.getMessage(STREAMS.jobs, { last_by_subj: SUBJECTS.job(sweepId) });
      const job = decodeJob(queued!.data);
      expect(job.run_id).to.equal(planned[1].runId);
      expect(job.spec, "the sweep's spec, not the letter's").to.deep.equal(planned[1].spec);
      expect(job.point).to.deep.equal(planned[1].point);
      expect((await jsm.streams.info(STREAMS.jobs)).state.messages, "the made-up run stays dead").to.equal(1);
      const left = await dtf(["dlq", sweepId, "--nats", server.url]);
      expect(left.stdout).to.contain("made-up");
      const none = await dtf(["dlq", (await dtf(["submit", writeSpec(dir, 50, "clean"), "--nats", server.url])).stdout.trim(), "--nats", server.url]);
      expect(none.stdout.trim()).to.match(/^no dead letters for sweep clean-/);
      // a flood of letters for one sweep keeps that sweep's newest 10 000 and no other sweep's letter is lost
      const pending = [];
      for (let i = 0; i < 10_050; i++) pending.push(publishDeadLetter(nc, "flood-0000000000", new Uint8Array([1]), `flood ${i}`, ""));
      await Promise.all(pending);
      const subjects = (await jsm.streams.info(STREAMS.dlq, { subjects_filter: "dtf.dlq.>" })).state.subjects!;
      expect(subjects[SUBJECTS.dlq("flood-0000000000")]).to.equal(10_000);
      expect(subjects[SUBJECTS.dlq("other-0000000000")], "another sweep's letters").to.equal(30);
      expect(subjects[SUBJECTS.dlq(sweepId)]).to.equal(1);
    } finally {
      await nc.close();
    }
  });

  it("status - runs by outcome (2 ok, 2 diverged, not '4/4 done' alone), no ETA once finished or cancelled; --watch prints until the sweep ends", async () => {
    server = await NatsServer.start();
    const dir = tmp();
    const file = join(dir, "half.yaml");
    writeFileSync(file, "name: half\nbase: { order: 3, dim: 5, components: 8, observations: 40, steps: 200, eval_every: 50, init_std: 1 }\ngrid: { lr: [0.002, 1000000] }\nseeds: 2\n");
    const sweepId = (await dtf(["submit", file, "--nats", server.url])).stdout.trim();
    const watching = dtf(["status", sweepId, "--watch", "--json", "--nats", server.url], process.env, 120_000);
    const worker = role(["worker", "--threads", "2", "--nats", server.url]);
    const aggregator = role(["aggregate", "--out", join(dir, "out"), "--nats", server.url]);
    try {
      const watched = await watching;
      expect(watched.code, watched.stderr).to.equal(0);
      const lines = watched.stdout.trim().split("\n").map((l) => JSON.parse(l));
      expect(lines.length, "one line per refresh while it ran").to.be.at.least(2);
      expect(lines.at(-1)).to.include({ total: 4, done: 4, ok: 2, diverged: 2, failed: 0, finished: true, etaMs: null });
      const human = await dtf(["status", sweepId, "--nats", server.url]);
      expect(human.stdout.trim()).to.equal(`${sweepId}: 4/4 done (2 ok, 2 diverged) · 0 failed · 0 running · 0 queued · 0 dead letters · finished`);
    } finally {
      await stopped(worker);
      await stopped(aggregator);
    }
    // a cancelled sweep, no worker: its ETA does not count up, and --watch ends at once
    const other = (await dtf(["submit", writeSpec(dir, 300, "idle"), "--nats", server.url])).stdout.trim();
    expect((await dtf(["cancel", other, "--nats", server.url])).code).to.equal(0);
    const cancelled = await dtf(["status", other, "--watch", "--nats", server.url], process.env, 30_000);
    expect(cancelled.stdout.trim()).to.match(/0\/12 done .* · cancelled$/);
    expect(cancelled.stdout).to.not.contain("ETA");
  });

  it("up - dtf up runs a one-machine cluster (nats-server, a worker, the aggregator) that completes a submitted sweep; up again with the same --out resumes it", async () => {
    const dir = tmp();
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const spec = writeSpec(dir, 300);
    const up = async () => {
      const cluster = role(["up", "--workers", "1", "--threads", "2", "--port", String(port), "--out", join(dir, "out")]);
      await until(() => cluster.log().includes("cluster up") || cluster.exitCode !== null, 60_000, () => `dtf up did not say "cluster up": ${cluster.log()}`);
      expect(cluster.exitCode, cluster.log()).to.equal(null);
      return cluster;
    };
    let cluster = await up();
    try {
      const submitted = await dtf(["submit", spec, "--nats", url]); // "cluster up" comes once the server is ready
      expect(submitted.code, submitted.stderr).to.equal(0);
      expect((await waitDone(url, submitted.stdout.trim(), 12)).done).to.equal(12);
      await stopped(cluster, "SIGINT");
      cluster = await up(); // its JetStream data is under --out: the done markers are still there
      const again = await dtf(["submit", spec, "--nats", url]);
      expect(again.stderr).to.contain("submitted 0 of 12 runs (12 already done)");
    } finally {
      await stopped(cluster, "SIGINT");
    }
  });

  it("up - fails at once (exit 1, naming the reason) when its port is taken, and refuses --workers 0", async () => {
    const taken = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => taken.listen(port, "127.0.0.1", () => resolve()));
    try {
      const dir = tmp();
      const r = await dtf(["up", "--port", String(port), "--out", join(dir, "out")], process.env, 60_000);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stdout).to.not.contain("cluster up");
      expect(r.stderr).to.match(/dtf up: nats-server did not start \(exit code 1\): .*address already in use/);
      const none = await dtf(["up", "--workers", "0", "--out", join(dir, "out")]);
      expect(none.code).to.equal(2);
      expect(none.stderr.trim()).to.match(/--workers/);
    } finally {
      taken.close();
    }
  });

  it("resubmit after the duplicate window - the jobs still queued are replaced, not doubled", async () => {
    server = await NatsServer.start();
    const dir = tmp();
    const spec = writeSpec(dir);
    const sweepId = (await dtf(["submit", spec, "--nats", server.url])).stdout.trim();
    const nc = await connect({ servers: server.url });
    try {
      // the window is 10 minutes; shortened here to 1 s, as if the Job were re-run the next day
      const jsm = await jetstreamManager(nc);
      const config = (await jsm.streams.info(STREAMS.jobs)).config;
      await jsm.streams.update(STREAMS.jobs, { ...config, duplicate_window: 1_000_000_000 });
      await new Promise((r) => setTimeout(r, 1500));
      const again = await dtf(["submit", spec, "--nats", server.url]);
      expect(again.stderr).to.contain("submitted 12 of 12 runs (0 already done, 12 queued jobs replaced)");
      const subject = SUBJECTS.job(sweepId);
      expect((await jsm.streams.info(STREAMS.jobs, { subjects_filter: subject })).state.subjects?.[subject], "jobs in the stream").to.equal(12);
    } finally {
      await nc.close();
    }
  });

  it("submit --wait - started before its server, it says so, waits and submits once the server is up; without --wait it fails at once", async () => {
    const dir = tmp();
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const at = Date.now();
    const alone = await dtf(["submit", writeSpec(dir), "--nats", url]);
    expect([alone.code, Date.now() - at < 10_000], alone.stderr).to.deep.equal([1, true]);
    expect(alone.stderr).to.contain("cannot connect");
    const waiting = dtf(["submit", writeSpec(dir), "--nats", url, "--wait", "60"]);
    await new Promise((r) => setTimeout(r, 3000));
    server = await NatsServer.start(null, {}, { port });
    const done = await waiting;
    expect(done.code, done.stderr).to.equal(0);
    expect(done.stderr).to.match(/cannot connect.*; trying again for up to \d+ s/);
    expect(done.stderr).to.contain("submitted 12 of 12 runs");
  });

  it("credentials - a wrong password is a clear error with a non-zero exit, and nothing is published", async () => {
    server = await NatsServer.start('authorization { users = [ { user: "dtf", password: "s3cret" } ] }\n');
    const dir = tmp();
    const at = Date.now();
    const bad = await dtf(["submit", writeSpec(dir), "--nats", server.url, "--user", "dtf", "--password", "wrong", "--wait", "60"]);
    expect(bad.code).to.not.equal(0);
    expect(Date.now() - at, "refused credentials are not waited on").to.be.below(15_000);
    expect(bad.stderr).to.contain("the server refused the credentials");
    const nc = await connect({ servers: server.url, user: "dtf", pass: "s3cret" });
    const jsm = await jetstreamManager(nc);
    const streams = await jsm.streams.names().next();
    await nc.close();
    expect(streams).to.deep.equal([]);
  });
});

/** One account per role, with the permissions of the shipped example configuration. */
const ACCOUNTS = (["submitter", "worker", "aggregator", "reader"] as const).map((r) => ({ role: r, user: r, password: `${r}-pw` }));
const as = (r: string) => ["--user", r, "--password", `${r}-pw`];

/**
 * A worker and an aggregator on their own accounts, started first as on Kubernetes (before the
 * submit Job created the streams, which their accounts may not: they must wait, not fail), then the
 * tiny sweep submitted with the submitter's account.
 */
async function sweepWithRoles(server: NatsServer, dir: string) {
  const worker = role(["worker", "--threads", "2", "--nats", server.url, ...as("worker")]);
  const aggregator = role(["aggregate", "--out", join(dir, "out"), "--nats", server.url, ...as("aggregator")]);
  for (const r of [worker, aggregator]) await until(() => r.log().includes("waiting for the streams"), 60_000, () => r.log());
  const submitted = await dtf(["submit", writeSpec(dir, 300), "--nats", server.url, ...as("submitter")]);
  expect(submitted.code, submitted.stderr).to.equal(0);
  return { sweepId: submitted.stdout.trim(), worker, aggregator };
}

describe("cluster mode - per-role accounts (real nats-server)", function () {
  this.timeout(240_000);
  let server: NatsServer;
  afterEach(async () => server?.stop());

  it("permissions - a sweep runs with one least-privilege account per role (deploy/nats/dtf-roles.conf); a worker cannot publish jobs nor write KV, a reader cannot submit", async () => {
    server = await NatsServer.start(serverAuthorization(ACCOUNTS));
    const dir = tmp();
    const { sweepId, worker, aggregator } = await sweepWithRoles(server, dir);
    try {
      expect((await waitDone(server.url, sweepId, 12, 120_000, as("reader"))).done).to.equal(12);
    } finally {
      await stopped(worker);
      await stopped(aggregator);
    }
    expect(worker.log()).to.not.match(/permission/i);
    expect(aggregator.log()).to.not.match(/permission/i);
    const refused = async (user: Role, subject: string) => {
      // its own inbox prefix, so that only the publish permission can refuse
      const nc = await connect({ servers: server.url, user, pass: `${user}-pw`, inboxPrefix: inboxPrefix(user) });
      let error = "";
      await jetstream(nc)
        .publish(subject, new Uint8Array([1]), { timeout: 2000 })
        .catch((e: Error) => {
          error = e.message;
        });
      await nc.close();
      return error;
    };
    expect(await refused("worker", "dtf.jobs.x"), "a worker publishing a job").to.not.equal("");
    expect(await refused("worker", `$KV.dtf_sweeps.done.${sweepId}.forged`), "a worker marking a run done").to.not.equal("");
    expect(await refused("aggregator", "dtf.jobs.x"), "an aggregator publishing a job").to.not.equal("");
    // only dtf's own streams may be created, by the submitter alone (a mirror of the results would double its disk)
    const answered = async (user: Role, subject: string, payload: string) => {
      const nc = await connect({ servers: server.url, user, pass: `${user}-pw`, inboxPrefix: inboxPrefix(user) });
      const reply = await nc.request(subject, payload, { timeout: 2000 }).then(
        (m) => m.string(),
        () => null, // a refused publish gets no answer (the server reports a permissions violation)
      );
      await nc.close();
      return reply;
    };
    const mirror = (name: string) => JSON.stringify({ name, mirror: { name: "DTF_RESULTS" } });
    for (const user of ["submitter", "worker", "aggregator", "reader"] as const) {
      expect(await answered(user, "$JS.API.STREAM.CREATE.MIRROR", mirror("MIRROR")), `${user} creating a mirror of the results`).to.equal(null);
    }
    // the control: the submitter's request for one of dtf's own names reaches the server (which answers it)
    expect(await answered("submitter", `$JS.API.STREAM.CREATE.${STREAMS.dlq}`, mirror(STREAMS.dlq))).to.contain("stream_create_response");
    const reader = await dtf(["submit", writeSpec(dir, 300, "other"), "--nats", server.url, ...as("reader")]);
    expect(reader.code, "a reader cannot submit").to.not.equal(0);
  });

  it("permissions on nats-server 2.10 - the submitter's cancel purges its sweep's jobs; no worker or reader may purge", async () => {
    server = await NatsServer.start(serverAuthorization(ACCOUNTS), {}, { binary: NATS_210 });
    const dir = tmp();
    const keep = (await dtf(["submit", writeSpec(dir, 300, "keep"), "--nats", server.url, ...as("submitter")])).stdout.trim();
    const drop = (await dtf(["submit", writeSpec(dir, 300, "drop"), "--nats", server.url, ...as("submitter")])).stdout.trim();
    const cancel = await dtf(["cancel", drop, "--nats", server.url, ...as("submitter")]);
    expect(cancel.stdout, cancel.stderr).to.contain("cancelled, 12 queued jobs removed");
    const purge = async (user: Role) => {
      const nc = await connect({ servers: server.url, user, pass: `${user}-pw`, inboxPrefix: inboxPrefix(user) });
      const reply = await nc.request(`$JS.API.STREAM.PURGE.${STREAMS.jobs}`, JSON.stringify({ filter: SUBJECTS.job(keep) }), { timeout: 2000 }).then(
        (m) => m.string(),
        () => null, // refused: no answer
      );
      await nc.close();
      return reply;
    };
    expect(await purge("worker"), "a worker purging another sweep's jobs").to.equal(null);
    expect(await purge("reader"), "a reader purging").to.equal(null);
    const queued = async (id: string) => JSON.parse((await dtf(["status", id, "--json", "--nats", server.url, ...as("reader")])).stdout).queued;
    expect([await queued(keep), await queued(drop)]).to.deep.equal([12, 0]);
  });

  it("inboxes - during a sweep each role's account, listening on every subject it may, hears no other role's deliveries (an account that may listen everywhere does)", async () => {
    // the negative control: an account as every role had before, allowed to listen anywhere
    const open = `    { user: "open", password: "open-pw", permissions: { publish: { allow: [">"] }, subscribe: { allow: [">"] } } }\n`;
    server = await NatsServer.start(serverAuthorization(ACCOUNTS).replace("  users = [\n", `  users = [\n${open}`));
    const heard = new Map<string, string[]>();
    const listeners = [];
    for (const [who, patterns] of [...ACCOUNTS.map((a) => [a.role, ROLE_PERMISSIONS[a.role].subscribe] as const), ["open", [">"]] as const]) {
      const user = who;
      const nc = await connect({ servers: server.url, user, pass: `${user}-pw`, ...(who === "open" ? {} : { inboxPrefix: inboxPrefix(who as Role) }) });
      heard.set(who, []);
      for (const pattern of patterns) {
        // a delivery's reply subject names its stream: $JS.ACK.<stream>.<consumer>.…
        nc.subscribe(pattern, {
          callback: (_, m) => {
            if (m.reply?.startsWith("$JS.ACK.")) heard.get(who)!.push(m.reply.split(".")[2]);
          },
        });
      }
      await nc.flush();
      listeners.push(nc);
    }
    const dir = tmp();
    const { sweepId, worker, aggregator } = await sweepWithRoles(server, dir);
    try {
      expect((await waitDone(server.url, sweepId, 12, 120_000, as("reader"))).done).to.equal(12);
      for (const [who, args] of [["submitter", ["status", sweepId]], ["reader", ["dlq", sweepId]], ["submitter", ["dlq", sweepId]]] as const) {
        const r = await dtf([...args, "--nats", server.url, ...as(who)]);
        expect(r.code, `${who}: dtf ${args.join(" ")}: ${r.stderr}`).to.equal(0);
      }
    } finally {
      await stopped(worker);
      await stopped(aggregator);
      for (const nc of listeners) await nc.close();
    }
    const count = (who: string, stream: string) => heard.get(who)!.filter((s) => s === stream).length;
    expect(count("worker", STREAMS.jobs), "a worker hears its own jobs").to.be.at.least(12);
    expect(count("aggregator", STREAMS.results), "the aggregator hears its results and metrics").to.be.at.least(24);
    expect(count("open", STREAMS.jobs) + count("open", STREAMS.results), "the control hears everything").to.be.at.least(36);
    const leaks = ["submitter", "reader", "worker", "aggregator"].flatMap((who) =>
      [STREAMS.jobs, STREAMS.results, STREAMS.dlq]
        .filter((stream) => !(who === "worker" && stream === STREAMS.jobs) && !(who === "aggregator" && stream === STREAMS.results))
        .filter((stream) => count(who, stream) > 0)
        .map((stream) => `${who} heard ${count(who, stream)} deliveries of ${stream}`),
    );
    expect(leaks).to.deep.equal([]);
  });

  it("before any sweep - a worker and an aggregator with their own accounts serve /healthz at once, say they wait, and take the sweep once it is submitted", async () => {
    server = await NatsServer.start(serverAuthorization(ACCOUNTS));
    const dir = tmp();
    const worker = role(["worker", "--threads", "2", "--port", "0", "--nats", server.url, ...as("worker")]);
    const aggregator = role(["aggregate", "--out", join(dir, "out"), "--nats", server.url, ...as("aggregator")]);
    try {
      await until(() => /on (http:\/\/[\d.]+:\d+)/.test(worker.log()), 30_000, () => worker.log());
      const address = /on (http:\/\/[\d.]+:\d+)/.exec(worker.log())![1];
      expect((await fetch(`${address}/healthz`)).status, "healthy while it waits").to.equal(200);
      await until(() => worker.log().includes("waiting for the streams") && aggregator.log().includes("waiting for the streams"), 30_000, () => `${worker.log()}\n${aggregator.log()}`);
      const submitted = await dtf(["submit", writeSpec(dir, 300), "--nats", server.url, ...as("submitter")]);
      expect(submitted.code, submitted.stderr).to.equal(0);
      expect((await waitDone(server.url, submitted.stdout.trim(), 12, 120_000, as("reader"))).done).to.equal(12);
      expect(worker.exitCode, "still running").to.equal(null);
      expect(`${worker.log()}${aggregator.log()}`).to.not.match(/permission/i);
    } finally {
      await stopped(worker);
      await stopped(aggregator);
    }
  });

  it("permissions - the shipped example server configuration is generated from the role table", () => {
    const file = new URL("../deploy/nats/dtf-roles.conf", import.meta.url);
    expect(readFileSync(file, "utf8")).to.equal(exampleServerConfig());
  });
});
