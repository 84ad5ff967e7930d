import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ResultStore } from "@dtf/store";
import { expect } from "chai";
import { type Finished, type Logged, running, runToEnd, spawnTracked, stopped, until } from "../kit/processes.ts";

/** Helpers for tests that drive the real `dtf` command (child processes) against real servers. */
export const bin = new URL("../../packages/cli/bin/dtf.mjs", import.meta.url).pathname;
export const tmp = () => mkdtempSync(join(tmpdir(), "dtf-cluster-"));
export { stopped, until };

export type Ran = Finished;

/** Runs `dtf ARGS` to completion (killed, with code 124, after `timeoutMs`). */
export function dtf(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 240_000): Promise<Ran> {
  return runToEnd(process.execPath, [bin, ...args], { env, timeoutMs });
}

/** The tail of every running child's output (for the message of a test that timed out). */
export const roleLogs = () =>
  running()
    .filter(({ child }) => "log" in child)
    .map(({ child, label }) => `--- ${label} (pid ${child.pid}):\n${(child as Logged).log().slice(-1500)}`)
    .join("\n");

/** A long-running dtf role (worker, aggregate) as a child process; its output is kept in `log()`. */
export function role(args: string[], env: NodeJS.ProcessEnv = process.env): Logged {
  return spawnTracked(process.execPath, [bin, ...args], { env });
}

/** Any long-running child process whose output is kept in `log()` (and shown by roleLogs). */
export function spawnLogged(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess & { log: () => string } {
  return spawnTracked(command, args, { env });
}

/** The tiny test sweep: depth 1–3 × observations (default 60, 120) × 2 seeds. */
export function writeSpec(dir: string, steps = 2500, name = "tiny", observations = [60, 120]): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}\nbase: { model: cp, order: 3, dim: 6, components: 36, target_rank: 2, init_std: 0.1, lr: 0.002, steps: ${steps}, eval_every: 100 }\ngrid: { depth: [1, 2, 3], observations: [${observations.join(", ")}] }\nseeds: 2\n`,
  );
  return file;
}

export async function status(url: string, sweepId: string, extra: string[] = []) {
  const r = await dtf(["status", sweepId, "--json", "--nats", url, ...extra]);
  return r.code === 0 ? (JSON.parse(r.stdout) as { done: number; dead: number; queued: number; running: number; total: number }) : null;
}

export async function waitDone(url: string, sweepId: string, total: number, timeoutMs = 120_000, extra: string[] = []) {
  let last: Awaited<ReturnType<typeof status>> = null;
  await until(
    async () => {
      last = await status(url, sweepId, extra);
      return last !== null && last.done + last.dead >= total;
    },
    timeoutMs,
    () => `sweep not done in time: ${JSON.stringify(last)}\n${roleLogs()}`,
  );
  return last!;
}

/** Every table's rows of a store, in key order (the comparable part: no timings). */
export async function rows(dir: string, sweepId?: string) {
  const store = await ResultStore.open(dir);
  const where = sweepId ? `WHERE sweep_id = '${sweepId}'` : "";
  try {
    return {
      runs: await store.query(
        `SELECT run_id, status, steps, train_loss, recon_error, heldout_mse, cp_erank, unfolding_eranks, rank_estimate, growth_json FROM runs ${where} ORDER BY run_id`,
      ),
      metrics: await store.query(`SELECT run_id, step, train_loss, recon_error, heldout_mse, cp_erank, unfolding_eranks, rank_estimate FROM metrics ${where} ORDER BY run_id, step`),
      norms: await store.query(`SELECT run_id, step, k, norm, gamma FROM component_norms ${where} ORDER BY run_id, step, k`),
      attempts: await store.query<{ attempt: number }>(`SELECT attempt FROM runs ${where}`),
      sweeps: await store.query(`SELECT sweep_id, name, spec_json, total_runs FROM sweeps ${where} ORDER BY sweep_id`),
    };
  } finally {
    await store.close();
  }
}

/** The cluster's store holds exactly the rows (bit for bit) of the local run's store. */
export async function expectSameRows(localDir: string, clusterDir: string, sweepId?: string) {
  const a = await rows(localDir, sweepId);
  const b = await rows(clusterDir, sweepId);
  expect(b.runs).to.deep.equal(a.runs);
  expect(b.metrics).to.deep.equal(a.metrics);
  expect(b.norms).to.deep.equal(a.norms);
  expect(b.sweeps).to.deep.equal(a.sweeps);
}

/**
 * The tiny sweep (with `steps`) run locally into DIR/local (the reference rows) and submitted to
 * the server at `url`; the cluster's store must end up equal to the local one.
 */
export async function localThenSubmit(url: string, dir: string, steps: number) {
  const spec = writeSpec(dir, steps);
  const local = join(dir, "local");
  const ran = await dtf(["run", spec, "--out", local, "--threads", "2"]);
  expect(ran.code, ran.stderr).to.equal(0);
  const submitted = await dtf(["submit", spec, "--nats", url]);
  expect(submitted.code, submitted.stderr).to.equal(0);
  return { spec, local, sweepId: submitted.stdout.trim() };
}
