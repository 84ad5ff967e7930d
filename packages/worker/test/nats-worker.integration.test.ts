import { resolveRunSpec } from "@dtf/engine";
import { encodeJob, STREAMS, SUBJECTS } from "@dtf/protocol";
import { ensureTopology } from "@dtf/protocol/nats";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { expect } from "chai";
import { freePort, NatsServer } from "../../../test/support/nats-server.ts";
import { runNatsWorker } from "../src/index.ts";

const faulty = new URL("./fixtures/faulty.mjs", import.meta.url).href;

describe("NATS worker loop (real nats-server)", function () {
  this.timeout(60_000);

  it("poison job - a job whose training always throws is retried up to max_deliver, then dead-lettered with the reason; the next job runs", async () => {
    const server = await NatsServer.start();
    const nc = await connect({ servers: server.url });
    try {
      await ensureTopology(nc, { maxDeliver: 2, ackWaitMs: 5000 });
      const js = jetstream(nc);
      const spec = (seed: number) => resolveRunSpec({ order: 3, dim: 4, components: 8, observations: 30, steps: 50, eval_every: 25, seed });
      await js.publish(SUBJECTS.job("s"), encodeJob({ sweep_id: "s", run_id: "bad", run_index: 0, attempt: 1, spec: spec(666), point: {} }));
      await js.publish(SUBJECTS.job("s"), encodeJob({ sweep_id: "s", run_id: "good", run_index: 1, attempt: 1, spec: spec(1), point: {} }));
      const stop = new AbortController();
      const jsm = await jetstreamManager(nc);
      const httpPort = await freePort();
      // the worker asks for 5 deliveries, but the consumer exists with 2: the consumer's number rules
      // (trusting its own flag, the worker would wait for a 5th delivery that never comes)
      const warnings: string[] = [];
      let settings = { maxDeliver: 0 };
      const working = runNatsWorker(
        nc,
        { threads: 1, signal: stop.signal, maxDeliver: 5, ackWaitMs: 5000, nakDelayMs: 100, taskFile: faulty, graceMs: 1000, httpPort, log: (l) => warnings.push(l) },
        (s) => {
          settings = s;
        },
      );
      for (;;) {
        const dlq = await jsm.streams.info(STREAMS.dlq);
        const jobs = await jsm.streams.info(STREAMS.jobs);
        if (dlq.state.messages >= 1 && jobs.state.messages === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      expect(health.status).to.equal(200);
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      expect(metrics).to.contain("dtf_worker_dead_lettered_total 1");
      expect(metrics).to.contain("dtf_worker_ok_total 1");
      stop.abort();
      expect((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status).to.equal(503); // draining
      const { counters } = await working;
      expect(settings.maxDeliver).to.equal(2);
      expect(warnings.join("\n")).to.contain("--max-deliver 5 ignored: the workers consumer exists with 2");
      expect(counters).to.include({ failed: 2, retried: 1, deadLettered: 1, ok: 1 });
      const letter = await jsm.streams.getMessage(STREAMS.dlq, { seq: 1 });
      expect(letter!.header!.get("Dtf-Run-Id")).to.equal("bad");
      expect(letter!.header!.get("Dtf-Reason")).to.contain("failed 2 times; last error: training blew up on purpose");
      const results = await jsm.streams.info(STREAMS.results, { subjects_filter: SUBJECTS.result("s") });
      expect(results.state.subjects?.[SUBJECTS.result("s")]).to.equal(2); // the good run's result and the bad one's `failed`
    } finally {
      await nc.close();
      await server.stop();
    }
  });

  it("drain - on SIGTERM (abort) a job still running after the grace period is handed back at once, not after the ack wait", async () => {
    const server = await NatsServer.start();
    const nc = await connect({ servers: server.url });
    try {
      await ensureTopology(nc, { maxDeliver: 3, ackWaitMs: 30_000 });
      const spec = resolveRunSpec({ order: 3, dim: 4, components: 8, observations: 30, steps: 50, seed: 669 }); // trains "forever"
      await jetstream(nc).publish(SUBJECTS.job("s"), encodeJob({ sweep_id: "s", run_id: "slow", run_index: 0, attempt: 1, spec, point: {} }));
      const jsm = await jetstreamManager(nc);
      const stop = new AbortController();
      const working = runNatsWorker(nc, { threads: 1, signal: stop.signal, taskFile: faulty, graceMs: 300, ackWaitMs: 30_000 });
      while ((await jsm.consumers.info(STREAMS.jobs, "workers")).num_ack_pending < 1) await new Promise((r) => setTimeout(r, 50));
      const t = Date.now();
      stop.abort();
      await working;
      // another worker gets it at once (a nak), not after the 30 s ack wait
      const consumer = await jetstream(nc).consumers.get(STREAMS.jobs, "workers");
      const again = await consumer.next({ expires: 3000 });
      expect(again?.info.deliveryCount).to.equal(2);
      expect(Date.now() - t).to.be.below(10_000);
    } finally {
      await nc.close();
      await server.stop();
    }
  });

  it("readiness - /readyz turns 503 while the NATS server is down and 200 once it is back; /healthz (liveness) stays 200, so a NATS outage restarts no worker", async () => {
    const server = await NatsServer.start();
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const stop = new AbortController();
    let working: Promise<unknown> = Promise.resolve();
    try {
      await ensureTopology(nc);
      const httpPort = await freePort();
      working = runNatsWorker(nc, { threads: 1, signal: stop.signal, taskFile: faulty, httpPort, log: () => undefined });
      const get = async (path: string) => {
        const r = await fetch(`http://127.0.0.1:${httpPort}${path}`).catch(() => null);
        return r ? `${r.status} ${(await r.text()).trim()}` : "no answer";
      };
      const until = async (path: string, want: string) => {
        for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if ((await get(path)) === want) return;
        expect(await get(path), path).to.equal(want);
      };
      await until("/readyz", "200 ok");
      expect(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()).to.contain("dtf_worker_nats_connected 1");
      await server.kill();
      await until("/readyz", "503 not connected to NATS");
      expect(await get("/healthz")).to.equal("200 ok");
      expect(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()).to.contain("dtf_worker_nats_connected 0");
      await server.restart();
      await until("/readyz", "200 ok");
      stop.abort();
      expect(await get("/readyz")).to.equal("503 draining");
    } finally {
      stop.abort();
      await working.catch(() => undefined);
      await nc.close();
      await server.stop();
    }
  });
});
