import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { dtf, type Ran, role, stopped, tmp, until } from "./support/dtf.ts";
import { NatsServer } from "./support/nats-server.ts";

/** A user error: exit 2, one short message naming what to fix, never a stack trace. */
function expectUsage(r: Ran, ...words: string[]) {
  expect(r.code, `exit code; stderr: ${r.stderr}`).to.equal(2);
  expect(r.stderr).to.not.match(/^\s+at /m);
  for (const w of words) expect(r.stderr).to.contain(w);
}

const sweep = (dir: string, body: string) => {
  const file = join(dir, `s${Math.random().toString(36).slice(2, 8)}.yaml`);
  writeFileSync(file, `name: bad\n${body}\n`);
  return file;
};

/** The fault matrix of bad input (issue 8): each case is what a user typed, and the answer it must get. */
describe("bad input - exit 2 naming the field, nothing written, no stack trace", function () {
  this.timeout(120_000);
  const dir = tmp();

  const specCases: [string, string, string[]][] = [
    ["seeds beyond --max-runs", "base: {}\nseeds: 1000000000", ["seeds: asks for 1000000000 seeds, more than --max-runs 100000"]],
    ["components", "base: { components: 100000000 }", ["base.components: must be an integer from 1 to 16777216"]],
    ["a model too large for memory", "base: { dim: 30, components: 1000000 }", ["base.components: makes a model of 9.000e+7 parameters, more than 16777216"]],
    ["depth", "base: { depth: 100000 }", ["base.depth: must be an integer from 1 to 32"]],
    ["steps", "base: { steps: 1000000000000 }", ["base.steps: must be an integer from 1 to 100000000"]],
    ["order", "base: { order: 40 }", ["base.order: must be an integer from 2 to 8"]],
    ["a grid value above 2^31", "base: {}\ngrid: { components: [8, 3000000000] }", ["grid.components[1]", "16777216"]],
    ["dim", "base: { dim: 1000000 }", ["base.dim", "entries (prod(dim)), more than 16777216"]],
    ["evaluations", "base: { steps: 100000000, eval_every: 1 }", ["base.eval_every", "raise eval_every to at least 1000"]],
    ["sensing measurements", "base: { problem: sensing, dim: 100, observations: 100000 }", ["base.observations", "measurement values for sensing"]],
    ["a seed above 2^32", "base: {}\nseeds: [5000000000]", ["seeds[0]: must be an integer from 0 to 4294967295"]],
  ];
  for (const [what, body, words] of specCases) {
    it(`sweep spec - ${what}`, async () => {
      const file = sweep(dir, body);
      const out = join(dir, `out-${what.replaceAll(" ", "-")}`);
      expectUsage(await dtf(["run", file, "--out", out]), ...words); // plan, run and submit share the validation
      expect(existsSync(out), "nothing written").to.equal(false);
    });
  }

  it("train - dim, order and sizes are bounded before anything is allocated (no hang, no RangeError)", async () => {
    const t = Date.now();
    expectUsage(await dtf(["train", "--dim", "1000000"]), "dim");
    expectUsage(await dtf(["train", "--order", "40"]), "order: must be an integer from 2 to 8");
    expectUsage(await dtf(["train", "--components", "100000000"]), "components");
    expect(Date.now() - t).to.be.below(30_000);
  });

  it("files - a billion-laughs YAML, a directory, a missing file, a directory as --replay", async () => {
    const laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 10; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(", ")}]`);
    const bomb = join(dir, "bomb.yaml");
    writeFileSync(bomb, `${laughs.join("\n")}\nname: bomb\n`);
    expectUsage(await dtf(["plan", bomb]), "not valid YAML");
    expectUsage(await dtf(["train", bomb]), "not valid YAML");
    expectUsage(await dtf(["plan", dir]), `cannot read sweep file ${dir}: it is a directory`);
    expectUsage(await dtf(["train", dir]), "it is a directory");
    expectUsage(await dtf(["plan", join(dir, "missing.yaml")]), "no such file");
    expectUsage(await dtf(["submit", join(dir, "missing.yaml"), "--nats", "nats://127.0.0.1:1"]), "no such file");
    expectUsage(await dtf(["train", "--replay", dir]), "it is a directory");
  });

  it("--out - a file, an empty path, a path under a file", async () => {
    const file = sweep(dir, "base: { steps: 10 }");
    const plain = join(dir, "plain.txt");
    writeFileSync(plain, "x");
    expectUsage(await dtf(["run", file, "--out", plain]), "is a file, not a directory");
    expectUsage(await dtf(["run", file, "--out", ""]), "empty path");
    expectUsage(await dtf(["run", file, "--out", join(plain, "sub")]), "which is a file");
    expectUsage(await dtf(["aggregate", "--out", plain]), "is a file, not a directory");
  });

  it("flags - every size is bounded", async () => {
    const file = sweep(dir, "base: { steps: 10 }");
    expectUsage(await dtf(["run", file, "--threads", "100000"]), "--threads must be an integer from 1 to 256");
    expectUsage(await dtf(["plan", file, "--max-runs", "1000000000000"]), "--max-runs must be an integer from 1 to 10000000");
    expectUsage(await dtf(["plan", file, "--show", "-1"]), "--show");
    expectUsage(await dtf(["worker", "--port", "70000"]), "--port must be an integer from 0 to 65535");
    expectUsage(await dtf(["worker", "--threads", "0"]), "--threads must be an integer from 1 to 256");
  });

  it("stores - a truncated results.duckdb is an error naming the damage (exit 1), not an uncaught exception", async () => {
    // a real store, cut short (a copy interrupted, a full disk): opening it used to throw from DuckDB uncaught
    const whole = join(dir, "whole");
    expect((await dtf(["run", sweep(dir, "base: { order: 3, dim: 4, components: 8, observations: 30, steps: 50 }\nseeds: 2"), "--out", whole])).code).to.equal(0);
    const store = join(dir, "broken");
    mkdirSync(store);
    writeFileSync(join(store, "results.duckdb"), readFileSync(join(whole, "results.duckdb")).subarray(0, 300_000));
    for (const args of [["report", store], ["export", store, "--format", "csv"]]) {
      const r = await dtf(args);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.contain(`cannot open the result store in ${store}: the file is damaged or not a DuckDB database`);
      expect(r.stderr).to.not.match(/^\s+at /m);
    }
  });

  it("arguments - extra or single-dash arguments, a second file, export without --format: exit 2, nothing started", async () => {
    const file = sweep(dir, "base: { order: 3, dim: 4, components: 8, observations: 30, steps: 50 }");
    const out = join(dir, "never");
    expectUsage(await dtf(["run", file, "-v", "--out", out]), "unknown option -v");
    expectUsage(await dtf(["run", file, file, "--out", out]), "dtf run takes a sweep file; unexpected:");
    expect(existsSync(out), "the sweep did not start").to.equal(false);
    expectUsage(await dtf(["plan", file, file]), "dtf plan takes a sweep file; unexpected:");
    expectUsage(await dtf(["worker", "extra"]), "dtf worker takes no arguments; unexpected: extra");
    const store = join(dir, "store");
    expect((await dtf(["run", file, "--out", store])).code).to.equal(0);
    expectUsage(await dtf(["export", store]), "--format is required: csv or parquet");
    expectUsage(await dtf(["report", store, "--sweep", "unknown"]), "--sweep: the store holds no sweep unknown");
    expectUsage(await dtf(["report", store, "--at", "bogus=1"]), "--at: no finished run at the grid point");
  });

  it("help and version - -h and --version answer, exit 0", async () => {
    const help = await dtf(["run", "-h"]);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.contain("dtf run");
    expect((await dtf(["-h"])).stdout).to.contain("usage: dtf <command>");
    const version = await dtf(["--version"]);
    expect(version.code).to.equal(0);
    expect(version.stdout).to.match(/^dtf \S+\n$/);
  });

  it("--out under /proc - exit 1 with one line at once (Node's recursive mkdir looped for ever there, deaf to SIGTERM)", async () => {
    const file = sweep(dir, "base: { steps: 10 }");
    const r = await dtf(["run", file, "--out", "/proc/dtf-no-such-dir", "--threads", "1"], process.env, 60_000);
    expect(r.timedOut, "it ended by itself").to.equal(false);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr.trim().split("\n")).to.deep.equal(["dtf run: cannot open the result store in /proc/dtf-no-such-dir: ENOENT: no such file or directory, mkdir '/proc/dtf-no-such-dir'"]);
  });

  it("credentials - a password in a --nats URL is never echoed", async () => {
    const file = sweep(dir, "base: { steps: 10 }");
    const r = await dtf(["submit", file, "--nats", "nats://admin:S3cretPass@127.0.0.1:1"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain("nats://admin:***@127.0.0.1:1");
    expect(r.stderr).to.not.contain("S3cretPass");
  });
});

describe("bad input - cluster commands (real nats-server)", function () {
  this.timeout(120_000);
  let server: NatsServer;
  before(async () => {
    server = await NatsServer.start();
  });
  after(async () => server?.stop());

  it("status, cancel and dlq of an unknown sweep exit 2 with one line, before and after the topology exists", async () => {
    for (const cmd of ["status", "cancel", "dlq"]) expectUsage(await dtf([cmd, "nosuchsweep", "--nats", server.url]), "no sweep nosuchsweep on this server");
    const dir = tmp();
    writeFileSync(join(dir, "s.yaml"), "name: s\nbase: { steps: 10 }\n");
    expect((await dtf(["submit", join(dir, "s.yaml"), "--nats", server.url])).code).to.equal(0); // the topology exists now
    for (const cmd of ["status", "cancel", "dlq"]) expectUsage(await dtf([cmd, "nosuchsweep", "--nats", server.url]), "no sweep nosuchsweep on this server");
    // ids that are no sweep id at all (subject wildcards, a space): refused before anything is asked
    for (const cmd of ["status", "cancel", "dlq"]) {
      for (const id of [">", "*", "a b", ""]) expectUsage(await dtf([cmd, id, "--nats", server.url]), id ? `not a sweep id: ${JSON.stringify(id)}` : "expected a sweep id");
    }
  });

  it("code version - a worker of another code version than the sweep's says so when it takes the sweep's jobs", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "v.yaml"), "name: v\nbase: { order: 3, dim: 4, components: 8, observations: 30, steps: 50 }\n");
    expect((await dtf(["submit", join(dir, "v.yaml"), "--nats", server.url], { ...process.env, DTF_CODE_VERSION: "v-submitter" })).code).to.equal(0);
    const worker = role(["worker", "--threads", "1", "--nats", server.url], { ...process.env, DTF_CODE_VERSION: "v-worker" });
    try {
      await until(() => worker.log().includes("was submitted by code version v-submitter; this worker runs v-worker"), 30_000, () => worker.log());
    } finally {
      await stopped(worker);
    }
  });

  it("read-only --out - an aggregator on a directory it cannot write exits 1 with the reason, no hang", async function () {
    const ro = tmp();
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro], { stdio: "ignore", timeout: 30_000 });
    } catch {
      this.skip(); // mounting needs root (CI runs as root); as root, permissions alone do not make a directory read-only
    }
    try {
      const t = Date.now();
      const r = await dtf(["aggregate", "--out", ro, "--nats", server.url]);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.contain(`cannot open the result store in ${ro}`);
      expect(r.stderr).to.not.match(/^\s+at /m);
      expect(Date.now() - t).to.be.below(20_000);
    } finally {
      execFileSync("umount", ["-l", ro], { timeout: 30_000 });
    }
  });

  it("worker HTTP endpoints - loopback by default, the address printed; --host widens it", async () => {
    const worker = role(["worker", "--threads", "1", "--port", "0", "--nats", server.url]);
    try {
      await until(() => /on http:\/\/[\d.]+:\d+/.test(worker.log()), 30_000, () => worker.log());
      const address = /on (http:\/\/[\d.]+:\d+)/.exec(worker.log())![1];
      expect(address).to.match(/^http:\/\/127\.0\.0\.1:/);
      expect((await fetch(`${address}/healthz`)).status).to.equal(200);
    } finally {
      await stopped(worker);
    }
    const wide = role(["worker", "--threads", "1", "--port", "0", "--host", "0.0.0.0", "--nats", server.url]);
    try {
      await until(() => /on http:\/\/[\d.]+:\d+/.test(wide.log()), 30_000, () => wide.log());
      expect(wide.log()).to.match(/on http:\/\/0\.0\.0\.0:\d+/);
    } finally {
      await stopped(wide);
    }
  });
});
