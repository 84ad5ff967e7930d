import { join } from "node:path";
import { KV_BUCKET } from "@dtf/protocol";
import { countKeys, doneRunIds, keyIsSet, whileClusterRecovers } from "@dtf/protocol/nats";
import { AckPolicy, DeliverPolicy, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection, nanos } from "@nats-io/transport-node";
import { expect } from "chai";
import { dtf, expectSameRows, role, stopped, tmp, until, waitDone, writeSpec } from "./support/dtf.ts";
import { freePort, NATS_210, NatsServer, type StartOptions } from "./support/nats-server.ts";

/**
 * Three nats-servers clustered with JetStream on loopback — the prod topology's NATS, one machine.
 * Streams and the KV bucket are created with three replicas (DTF_NATS_REPLICAS=3); every role
 * knows all three servers and fails over when one dies.
 */
async function startCluster(options: StartOptions = {}): Promise<NatsServer[]> {
  const routes = await Promise.all([0, 1, 2].map(() => freePort()));
  const nodes: NatsServer[] = [];
  for (const [i, port] of routes.entries()) {
    const peers = routes.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`);
    nodes.push(await NatsServer.start(`server_name: n${i}\ncluster { name: dtf, listen: "127.0.0.1:${port}", routes: [${peers.join(", ")}] }\n`, {}, options));
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

    // a majority lost: once the last server has no leader for the bucket's stream (a leader that
    // lost its quorum steps down within seconds; until then it answers with what it has, which is
    // every write its quorum took), `dtf status` never reads the replica's state: it keeps asking,
    // then says so in one line (not an "unexpected error")
    await nodes[0].kill();
    await nodes[1].kill();
    const survivor = await connect({ servers: nodes[2].url });
    try {
      const jsm = await jetstreamManager(survivor, { checkAPI: false }); // the check asks the meta leader, gone with the majority
      const leaderless = async () => (await jsm.streams.info(`KV_${KV_BUCKET}`).then((i) => i.cluster !== undefined && !i.cluster.leader, () => false));
      await until(leaderless, 60_000, () => "the bucket's stream kept a leader with two of three servers dead");
    } finally {
      await survivor.close();
    }
    const lost = await dtf(["status", sweepId, "--json"], { ...env, DTF_NATS_URL: nodes[2].url });
    expect(lost.code, `${lost.stderr}\n${lost.stdout}`).to.equal(1);
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

  for (const [version, options] of [
    ["2.9", {}],
    ["2.10", { binary: NATS_210 }],
  ] as const) {
    it(`counts never from a replica behind (nats-server ${version}) - with a server dead, then back and catching up, every count, done set and done check is exact, and none is read without a leader; a bare counting consumer and a replica's own answer (the controls) are wrong`, async () => {
      nodes = await startCluster(options);
      const nc = await connect({ servers: nodes.map((n) => n.url) });
      try {
        const kv = await new Kvm(nc).create(KV_BUCKET, { replicas: 3 });
        const put = async (from: number, to: number) => {
          for (let i = from; i < to; i += 200) await Promise.all(Array.from({ length: Math.min(200, to - i) }, (_, j) => kv.put(`done.s.r${i + j}`, "1")));
        };
        await put(0, 12);
        await nodes[0].kill();
        // the elections the kill starts are over once the bucket answers a read
        await until(async () => (await kv.get("done.s.r0").then((e) => e?.string() === "1", () => false)), 60_000, () => "the bucket did not answer after the kill");
        const control: (number | string)[] = [];
        for (let i = 0; i < 20; i++) control.push(await consumerCount(nc, "done.s.>").catch((err: Error) => err.name));
        expect(control, "a counting consumer placed on the dead server never answers").to.include("TimeoutError");
        for (let i = 0; i < 20; i++) expect(await countKeys(nc, "done.s.>")).to.equal(12);
        // written while the server is down: it is behind when it comes back
        await put(12, 3000);
        await nodes[0].restart();
        // asked as status asks: again while the cluster answers "no leader" (the restarted server may, for a moment)
        const read = <T>(op: () => Promise<T>) => whileClusterRecovers(op);
        for (const end = Date.now() + 10_000; Date.now() < end; ) {
          expect(await read(() => countKeys(nc, "done.s.>"))).to.equal(3000);
          expect(await read(() => countKeys(nc, "done.s.>", [])), "the stream leader's count alone").to.equal(3000);
          expect((await read(() => doneRunIds(nc, "s"))).size).to.equal(3000);
          expect(await read(() => keyIsSet(nc, "done.s.r2999"))).to.equal(true);
        }
        expect(await keyIsSet(nc, "done.s.r3000"), "a key never written").to.equal(false);
        await kv.delete("done.s.r0");
        expect(await keyIsSet(nc, "done.s.r0"), "a deleted key").to.equal(false);
        // a majority lost: the last server answers a stream info for the bucket without a leader (the
        // control: its total may be behind), and the counts refuse to read it
        await nodes[0].kill();
        await nodes[1].kill();
        const replicaAnswer = async () => {
          const reply = await nc.request(`$JS.API.STREAM.INFO.KV_${KV_BUCKET}`, JSON.stringify({ subjects_filter: `$KV.${KV_BUCKET}.done.s.>`, offset: 1e12 }), { timeout: 5_000 });
          return reply.json<{ total?: number; cluster?: { leader?: string } }>();
        };
        await until(async () => (await replicaAnswer().then((r) => r.total === 3000 && !r.cluster?.leader, () => false)), 60_000, () => "no leaderless answer");
        for (const count of [() => countKeys(nc, "done.s.>", []), () => doneRunIds(nc, "s")]) {
          // refused: "no leader", or the server's own 503 (JetStream without its meta leader)
          expect(await count().then(String, (err: Error) => `${err.name}: ${err.message}`)).to.match(/^(LeaderlessError|JetStreamApiError)/);
        }
      } finally {
        await nc.close();
      }
    });
  }
});

/** How dtf counted keys before: the pending count of a one-replica consumer, which the server may place on any replica, taken as it came. */
async function consumerCount(nc: NatsConnection, filter: string): Promise<number> {
  const jsm = await jetstreamManager(nc, { timeout: 1_000 });
  const name = `count_${Date.now()}_${Math.random().toString(36).slice(2)}`;
  const config = { name, filter_subject: `$KV.${KV_BUCKET}.${filter}`, deliver_policy: DeliverPolicy.LastPerSubject, ack_policy: AckPolicy.None, mem_storage: true, num_replicas: 1 };
  const info = await jsm.consumers.add(`KV_${KV_BUCKET}`, { ...config, inactive_threshold: nanos(30_000) });
  await jsm.consumers.delete(`KV_${KV_BUCKET}`, name).catch(() => undefined);
  return info.num_pending;
}
