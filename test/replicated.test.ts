import { join } from "node:path";
import { KV_BUCKET } from "@dtf/protocol";
import { COUNT_TRIES_MS, countKeys } from "@dtf/protocol/nats";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { expect } from "chai";
import { dtf, expectSameRows, role, stopped, tmp, until, waitDone, writeSpec } from "./support/dtf.ts";
import { freePort, NatsServer } from "./support/nats-server.ts";

/**
 * Three nats-servers clustered with JetStream on loopback — the prod topology's NATS, one machine.
 * Streams and the KV bucket are created with three replicas (DTF_NATS_REPLICAS=3); every role
 * knows all three servers and fails over when one dies.
 */
async function startCluster(): Promise<NatsServer[]> {
  const routes = await Promise.all([0, 1, 2].map(() => freePort()));
  const nodes: NatsServer[] = [];
  for (const [i, port] of routes.entries()) {
    const peers = routes.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`);
    nodes.push(await NatsServer.start(`server_name: n${i}\ncluster { name: dtf, listen: "127.0.0.1:${port}", routes: [${peers.join(", ")}] }\n`));
  }
  // JetStream answers once the three have elected a meta leader
  const nc = await connect({ servers: nodes.map((n) => n.url) });
  try {
    await until(
      async () => (await jetstreamManager(nc).then((jsm) => jsm.getAccountInfo()).then(() => true, () => false)),
      30_000,
      () => "the JetStream cluster did not form",
    );
  } finally {
    await nc.close();
  }
  return nodes;
}

describe("cluster mode on a 3-node JetStream cluster (R3)", function () {
  this.timeout(300_000);
  let nodes: NatsServer[] = [];
  afterEach(async () => {
    for (const n of nodes) await n.stop();
  });

  it("replicated - a NATS node killed mid-sweep (kill -9) and restarted: every run lands once, rows identical to dtf run; status rides out an election and names a lost majority", async () => {
    nodes = await startCluster();
    const dir = tmp();
    const spec = writeSpec(dir, 4000);
    const local = join(dir, "local");
    expect((await dtf(["run", spec, "--out", local, "--threads", "2"])).code).to.equal(0);

    const urls = nodes.map((n) => n.url).join(",");
    const env = { ...process.env, DTF_NATS_URL: urls, DTF_NATS_REPLICAS: "3" };
    const submitted = await dtf(["submit", spec], env);
    expect(submitted.code, submitted.stderr).to.equal(0);
    const sweepId = submitted.stdout.trim();
    const nc = await connect({ servers: nodes.map((n) => n.url) });
    const jsm = await jetstreamManager(nc);
    for (const stream of ["DTF_JOBS", "DTF_RESULTS", "DTF_DLQ", "KV_dtf_sweeps"]) {
      expect((await jsm.streams.info(stream)).config.num_replicas, stream).to.equal(3);
    }
    await nc.close();

    const out = join(dir, "cluster");
    const worker = role(["worker", "--threads", "2"], env);
    const aggregator = role(["aggregate", "--out", out], env);
    try {
      await waitDone(urls, sweepId, 3, 120_000, []);
      await nodes[0].kill(); // the first server in every client's list: they all fail over
      await waitDone(nodes[1].url, sweepId, 8, 120_000);
      await nodes[0].restart();
      const status = await waitDone(nodes[2].url, sweepId, 12, 180_000);
      expect(status).to.include({ done: 12, dead: 0 });
    } finally {
      await stopped(worker);
      await stopped(aggregator);
    }
    await expectSameRows(local, out);

    // a majority lost: `dtf status` keeps asking, then says so in one line (not an "unexpected error")
    await nodes[0].kill();
    await nodes[1].kill();
    const lost = await dtf(["status", sweepId], { ...env, DTF_NATS_URL: nodes[2].url });
    expect(lost.code, lost.stderr).to.equal(1);
    expect(lost.stderr.trim().split("\n")).to.have.length(1);
    expect(lost.stderr).to.match(/^dtf status: the NATS cluster did not answer for 20 s .*is a majority of its servers up\?/);
    // a majority back: status, asked during the elections that follow, answers once they are over.
    // Those elections (meta leader, then each stream's and consumer's) can outlast status's own 20 s
    // on a loaded 2-core machine, so it is asked again, and every refusal must be the same one line.
    await nodes[1].restart();
    let back = await dtf(["status", sweepId, "--json"], { ...env, DTF_NATS_URL: nodes[2].url });
    for (const end = Date.now() + 90_000; back.code !== 0 && Date.now() < end; ) {
      expect(back.code, back.stderr).to.equal(1);
      expect(back.stderr.trim().split("\n"), back.stderr).to.have.length(1);
      back = await dtf(["status", sweepId, "--json"], { ...env, DTF_NATS_URL: nodes[2].url });
    }
    expect(back.code, back.stderr).to.equal(0);
    expect(JSON.parse(back.stdout)).to.include({ done: 12, dead: 0, total: 12 });
  });

  it("counts with a server down - the server may place a counting consumer on the dead one (a single try then fails: the control); tried again with the next limit, every count answers", async () => {
    nodes = await startCluster();
    const nc = await connect({ servers: nodes.map((n) => n.url) });
    try {
      const kv = await new Kvm(nc).create(KV_BUCKET, { replicas: 3 });
      for (let i = 0; i < 12; i++) await kv.put(`done.s.r${i}`, "1");
      await nodes[0].kill();
      // the elections the kill starts are over once the bucket answers a read
      await until(async () => (await kv.get("done.s.r0").then((e) => e?.string() === "1", () => false)), 60_000, () => "the bucket did not answer after the kill");
      const outcomes = async (triesMs: readonly number[]) => {
        const counts: (number | string)[] = [];
        for (let i = 0; i < 20; i++) counts.push(await countKeys(nc, "done.s.>", triesMs).catch((err: Error) => err.name));
        return counts;
      };
      const once = await outcomes([COUNT_TRIES_MS[0]]);
      expect(once, "one try each: some land on the dead server").to.include("TimeoutError");
      expect(await outcomes(COUNT_TRIES_MS)).to.deep.equal(Array(20).fill(12));
    } finally {
      await nc.close();
    }
  });
});
