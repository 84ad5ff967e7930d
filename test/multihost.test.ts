import { type ChildProcess, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { parseAllDocuments } from "yaml";
import { runToEnd } from "./kit/processes.ts";
import { bin, dtf, expectSameRows, spawnLogged, tmp, until, writeSpec } from "./support/dtf.ts";
import { kustomizeBuild } from "./support/kustomize.ts";

const root = new URL("../", import.meta.url).pathname;
const NATS = process.env.DTF_NATS_SERVER ?? "/usr/sbin/nats-server";
const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] });

/**
 * The prod topology on one machine: each host a network namespace on one bridge (in a namespace
 * of its own, so the machine's network is never touched) — three NATS nodes clustered with
 * JetStream, two worker hosts, one aggregator host. A host's link is cut by downing its bridge port.
 */
class Hosts {
  readonly tag = Math.random().toString(36).slice(2, 7);
  readonly hub = `dtf${this.tag}hub`;
  private readonly names: string[] = [];
  private readonly children: ChildProcess[] = [];

  add(name: string, address: string): void {
    const ns = `dtf${this.tag}${name}`;
    if (this.names.length === 0) {
      ip("netns", "add", this.hub);
      ip("-n", this.hub, "link", "add", "br0", "type", "bridge");
      ip("-n", this.hub, "link", "set", "br0", "up");
    }
    ip("netns", "add", ns);
    this.names.push(ns);
    ip("link", "add", `p${this.tag}${name}`, "netns", this.hub, "type", "veth", "peer", "name", "eth0", "netns", ns);
    ip("-n", this.hub, "link", "set", `p${this.tag}${name}`, "master", "br0", "up");
    ip("-n", ns, "addr", "add", `${address}/24`, "dev", "eth0");
    ip("-n", ns, "link", "set", "eth0", "up");
    ip("-n", ns, "link", "set", "lo", "up");
  }

  /** Cuts (or restores) a host's only link. */
  link(name: string, up: boolean): void {
    ip("-n", this.hub, "link", "set", `p${this.tag}${name}`, up ? "up" : "down");
  }

  spawn(name: string, command: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess & { log: () => string } {
    const child = spawnLogged("ip", ["netns", "exec", `dtf${this.tag}${name}`, ...command], env);
    this.children.push(child);
    return child;
  }

  /** Runs a dtf command on a host to completion. */
  async dtf(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
    return runToEnd("ip", ["netns", "exec", `dtf${this.tag}${name}`, process.execPath, bin, ...args], { env });
  }

  async close(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null) c.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    for (const ns of [...this.names, this.hub]) {
      try {
        ip("netns", "del", ns);
      } catch {
        // already gone
      }
    }
  }
}

/** The worker's and the aggregator's arguments as the prod overlay starts them. */
async function manifestArgs(): Promise<Record<string, string[]>> {
  const stdout = await kustomizeBuild("prod");
  const out: Record<string, string[]> = {};
  for (const doc of parseAllDocuments(stdout)) {
    const o = doc.toJS() as { metadata: { name: string }; spec?: { template?: { spec?: { containers: { args?: string[] }[] } } } };
    const args = o.spec?.template?.spec?.containers[0]?.args;
    if (args) out[o.metadata.name] = args;
  }
  return out;
}

describe("multi-host failure test (network namespaces, the prod topology)", function () {
  this.timeout(600_000);
  let hosts: Hosts | null = null;
  before(function () {
    try {
      ip("netns", "add", "dtfprobe");
      ip("netns", "del", "dtfprobe");
    } catch (err) {
      console.log(`      skipped: ip netns is not permitted here (${(err as Error).message.split("\n")[0]})`);
      this.skip();
    }
  });
  afterEach(async () => {
    await hosts?.close();
    hosts = null;
  });

  it("cut link - a client with unsent data on a cut link leaves the stale connection within seconds and reconnects to another server", async () => {
    hosts = new Hosts();
    const subnet = `10.78.${(Math.random() * 200) | 0}`;
    hosts.add("s1", `${subnet}.11`);
    hosts.add("s2", `${subnet}.12`);
    hosts.add("c1", `${subnet}.21`);
    for (const [name, last] of [["s1", 11], ["s2", 12]] as const) hosts.spawn(name, [NATS, "-a", `${subnet}.${last}`, "-p", "4222"]);
    const url = `nats://${subnet}.11:4222,nats://${subnet}.12:4222`;
    // the role's connection (connectNats: pings every 10 s, stale after 3 misses); 64 KiB published
    // every 20 ms, so a cut link leaves unsent data in the socket — what wedged the workers
    const script = `
      const { connectNats } = await import(${JSON.stringify(join(root, "packages", "protocol", "src", "nats.ts"))});
      const nc = await connectNats({ url: ${JSON.stringify(url)} }, (line) => console.log(line));
      console.log("connected to " + nc.getServer());
      const payload = new Uint8Array(65536);
      setInterval(() => { try { nc.publish("load", payload); } catch {} }, 20);`;
    const client = hosts.spawn("c1", [process.execPath, "--import", "tsx", "--input-type=module", "-e", script]);
    await until(() => /connected to /.test(client.log()), 30_000, () => `the client did not connect:\n${client.log()}`);
    const first = /connected to \S*?(\d+\.\d+\.\d+\.\d+)/.exec(client.log())![1];
    hosts.link(first.endsWith(".11") ? "s1" : "s2", false);
    const cutAt = Date.now();
    // stale after ≤ 40 s of missed pings, then ≤ 5 s to drop the socket; without that, the close waits ~15 min
    await until(() => /reconnected to /.test(client.log()), 75_000, () => `no reconnect ${(Date.now() - cutAt) / 1000} s after the cut:\n${client.log()}`);
    expect(client.log()).to.match(/reconnected to \S*\d+\.\d+\.\d+\.(11|12)/);
    expect(/reconnected to \S*?(\d+\.\d+\.\d+\.\d+)/.exec(client.log())![1]).to.not.equal(first);
  });

  it("multi-host - a NATS node's link cut and restored and a worker host cut, mid-sweep: every run lands once, rows identical to dtf run", async () => {
    const dir = tmp();
    const spec = writeSpec(dir, 12000);
    const local = join(dir, "local");
    expect((await dtf(["run", spec, "--out", local, "--threads", "2"])).code).to.equal(0);

    hosts = new Hosts();
    const nats = ["n1", "n2", "n3"].map((name, i) => ({ name, address: `10.77.${(Math.random() * 200) | 0}.${11 + i}` }));
    const subnet = nats[0].address.split(".").slice(0, 3).join(".");
    nats.forEach((n, i) => {
      n.address = `${subnet}.${11 + i}`;
      hosts!.add(n.name, n.address);
    });
    for (const [name, last] of [
      ["w1", 21],
      ["w2", 22],
      ["a1", 31],
    ] as const)
      hosts.add(name, `${subnet}.${last}`);

    const conf = mkdtempSync(join(tmpdir(), "dtf-multihost-"));
    const servers: { log: () => string }[] = [];
    for (const n of nats) {
      const routes = nats.filter((m) => m !== n).map((m) => `"nats-route://${m.address}:6222"`);
      const file = join(conf, `${n.name}.conf`);
      writeFileSync(
        file,
        `server_name: ${n.name}\nlisten: "${n.address}:4222"\njetstream { store_dir: "${join(conf, n.name)}" }\ncluster { name: dtf, listen: "${n.address}:6222", routes: [${routes.join(", ")}] }\n`,
      );
      servers.push(hosts.spawn(n.name, [NATS, "-c", file]));
    }
    const url = nats.map((n) => `nats://${n.address}:4222`).join(",");
    const env = { ...process.env, DTF_NATS_URL: url, DTF_NATS_REPLICAS: "3" };
    let statusError = "";
    const status = async () => {
      const r = await hosts!.dtf("a1", ["status", sweepId, "--json"], env);
      statusError = r.code === 0 ? "" : r.stderr.trim();
      return r.code === 0 ? (JSON.parse(r.stdout) as { done: number; dead: number; total: number }) : null;
    };
    let sweepId = "";
    // the cluster is up once a submit succeeds (JetStream needs its meta leader)
    await until(
      async () => {
        const r = await hosts!.dtf("a1", ["submit", spec], env);
        sweepId = r.stdout.trim();
        return r.code === 0;
      },
      60_000,
      () => "the 3-node cluster never accepted the sweep",
    );
    const args = await manifestArgs();
    const out = join(dir, "cluster");
    const aggregatorArgs = args["dtf-aggregator"].map((a) => (a === "/data/store" ? out : a));
    const aggregator = hosts.spawn("a1", [process.execPath, bin, ...aggregatorArgs], env);
    const workers = ["w1", "w2"].map((w) => hosts!.spawn(w, [process.execPath, bin, ...args["dtf-worker"]], env));
    const logs = () => [aggregator, ...workers, ...servers].map((c) => c.log().slice(-3000)).join("\n---\n");
    const doneAtLeast = (n: number) =>
      until(async () => ((await status())?.done ?? 0) >= n, 240_000, async () => `not ${n} done: ${JSON.stringify(await status())} ${statusError}\n${logs()}`);

    await doneAtLeast(2);
    hosts.link("n1", false); // a NATS node unreachable: the streams keep quorum on the other two
    await doneAtLeast(5);
    hosts.link("w1", false); // a worker host gone: its runs come back after the ack wait
    await doneAtLeast(8);
    hosts.link("n1", true);
    await doneAtLeast(12);
    // the restored node's return may set off one more election: wait it out before the last word
    let final = await status();
    for (const end = Date.now() + 90_000; final === null && Date.now() < end; final = await status()) await new Promise((r) => setTimeout(r, 1_000));
    const letters = final?.dead ? (await hosts.dtf("a1", ["dlq", sweepId], env)).stdout : "";
    expect(final, `${statusError}${letters}\n${logs()}`).to.include({ done: 12, dead: 0, total: 12 });
    aggregator.kill("SIGTERM");
    await new Promise<void>((r) => (aggregator.exitCode !== null ? r() : aggregator.once("exit", () => r())));
    await expectSameRows(local, out);
  });
});
