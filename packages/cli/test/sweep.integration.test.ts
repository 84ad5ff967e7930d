// End-to-end sweeps through the dtf process (integration tier: whole sweeps, ~40 s).
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ResultStore } from "@dtf/store";
import { expect } from "chai";
import { dtf, exited, startUntil } from "./support.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "dtf-sweep-"));

const BASE = "model: cp, order: 3, dim: 6, components: 36, target_rank: 2, init_std: 0.1, lr: 0.002";

/** 12 runs (3 depths × 2 observation counts × 2 seeds) of `steps` steps, 25 evaluations each. */
const specOf = (steps: number) => `name: tiny
base: { ${BASE}, steps: ${steps}, eval_every: ${steps / 25} }
grid: { depth: [1, 2, 3], observations: [60, 120] }
seeds: 2
`;

/** 12 runs of ~0.05 s each. */
const SPEC = specOf(2500);

/**
 * Steps (a multiple of 2 500) after which the quickest run of `specOf` has trained at least
 * `seconds` here and now, measured with `dtf train`: a test that signals a sweep after its first
 * results then always lands mid-way, however fast or busy the machine.
 */
async function stepsLasting(seconds: number): Promise<number> {
  const flags = ["--model", "cp", "--order", "3", "--dim", "6", "--components", "36", "--target-rank", "2", "--init-std", "0.1", "--lr", "0.002"];
  const { code, stdout, stderr } = await dtf(["train", ...flags, "--depth", "1", "--observations", "60", "--steps", "2500", "--eval-every", "100", "--json"]);
  expect(code, stderr).to.equal(0);
  const wallMs = JSON.parse(stdout.trim().split("\n").at(-1)!).wall_ms as number;
  return 2500 * Math.max(1, Math.ceil((seconds * 1000) / wallMs));
}

function writeSpec(dir: string, text = SPEC) {
  const file = join(dir, "tiny.yaml");
  writeFileSync(file, text);
  return file;
}

async function readStore(dir: string) {
  const store = await ResultStore.open(dir);
  try {
    const runs = await store.query<{ run_id: string; status: string; n: number }>(
      "SELECT run_id, status, count(*) OVER (PARTITION BY run_id)::INTEGER AS n FROM runs ORDER BY run_id",
    );
    const metrics = await store.query<Record<string, unknown>>(
      "SELECT run_id, step, train_loss, recon_error, heldout_mse, cp_erank, unfolding_eranks, rank_estimate FROM metrics ORDER BY run_id, step",
    );
    const norms = await store.query<Record<string, unknown>>("SELECT * FROM component_norms ORDER BY run_id, step, k");
    return { runs, metrics, norms };
  } finally {
    await store.close();
  }
}

describe("dtf plan / run / export", () => {
  it("plan - prints the count and the first runs", async () => {
    const dir = tmp();
    const { code, stdout } = await dtf(["plan", writeSpec(dir), "--show", "3"]);
    expect(code).to.equal(0);
    expect(stdout).to.match(/^sweep tiny-[0-9a-f]{10}: 12 runs$/m);
    expect(stdout).to.contain('{"depth":1,"observations":60,"seed":0}');
    expect(stdout).to.contain("… 9 more");
  });

  it("run - a bad sweep spec exits 2 with every issue and starts nothing", async () => {
    const dir = tmp();
    const file = writeSpec(dir, SPEC.replace("depth: [1, 2, 3]", "deptth: [1, 2, 3]").replace("seeds: 2", "seeds: -1"));
    const { code, stderr } = await dtf(["run", file, "--out", join(dir, "out")]);
    expect(code).to.equal(2);
    expect(stderr).to.contain("tiny.yaml:3: grid.deptth: unknown run-spec key (did you mean 'depth'?)");
    expect(stderr).to.contain("seeds: must be a count >= 1");
    expect(existsSync(join(dir, "out"))).to.equal(false);
  });

  it("run - refuses a grid over --max-runs", async () => {
    const dir = tmp();
    const { code, stderr } = await dtf(["run", writeSpec(dir), "--max-runs", "5", "--out", join(dir, "out")]);
    expect(code).to.equal(2);
    expect(stderr).to.contain("expands to 12 runs, more than --max-runs 5");
  });

  it("run - runs every run into the store; a second run resumes with nothing to do; export writes CSV", async () => {
    const dir = tmp();
    const out = join(dir, "out");
    const first = await dtf(["run", writeSpec(dir), "--out", out, "--threads", "2"]);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout.match(/^\[\d+\/12\] (ok|diverged)/gm)).to.have.length(12);
    expect(first.stdout).to.contain("done: 12/12 runs finished (12 run now, 0 already done)");
    expect(first.stdout).to.contain(`report:  ${join(out, "report.html")}`);
    expect(readFileSync(join(out, "report.html"), "utf8")).to.contain("<h1>tiny</h1>");
    const { runs, metrics } = await readStore(out);
    expect(runs).to.have.length(12);
    expect(runs.every((r) => r.n === 1)).to.equal(true);
    expect(metrics).to.have.length(12 * 26);
    const again = await dtf(["run", writeSpec(dir), "--out", out, "--threads", "2"]);
    expect(again.code).to.equal(0);
    expect(again.stdout).to.contain("done: 12/12 runs finished (0 run now, 12 already done)");
    const exp = await dtf(["export", out, "--format", "csv"]);
    expect(exp.code).to.equal(0);
    const csv = readFileSync(join(out, "export", "runs.csv"), "utf8").trim().split("\n");
    expect(csv).to.have.length(13);
  });

  it("report - dtf report rewrites the report with figure files where asked; a directory without a store exits 2", async () => {
    const dir = tmp();
    const out = join(dir, "out");
    expect((await dtf(["run", writeSpec(dir), "--out", out, "--threads", "2"])).code).to.equal(0);
    const r = await dtf(["report", out, "--out", join(dir, "r.html"), "--figures", join(dir, "figs")]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/r\.html: \d+ figures, 12 runs/);
    expect(existsSync(join(dir, "figs", "error-vs-steps.png"))).to.equal(true);
    const bad = await dtf(["report", join(dir, "nothing")]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain("holds no result store");
    const badExport = await dtf(["export", join(dir, "nothing")]);
    expect(badExport.code).to.equal(2);
    expect(badExport.stderr).to.contain("holds no result store");
    expect(existsSync(join(dir, "nothing"))).to.equal(false); // nothing created
  });

  it("resume - a sweep killed mid-way (SIGKILL) and run again has every run once and the metrics of an uninterrupted sweep", async () => {
    const dir = tmp();
    // Each run trains ≥ 1 s, twice the runner's 500 ms commit delay: when the 4th result is printed
    // (after its commit) at most 2 more runs have finished, so ≥ 6 still train when the kill lands.
    const file = writeSpec(dir, specOf(await stepsLasting(1)));
    const reference = join(dir, "reference");
    const whole = await dtf(["run", file, "--out", reference, "--threads", "2"]);
    expect(whole.code, whole.stderr).to.equal(0);

    const out = join(dir, "interrupted");
    const { child } = await startUntil(["run", file, "--out", out, "--threads", "2"], /^\[\d+\/12\]/, 4);
    child.kill("SIGKILL");
    await exited(child);
    const partial = await readStore(out);
    expect(partial.runs.length).to.be.within(4, 11);

    const resumed = await dtf(["run", file, "--out", out, "--threads", "2"]);
    expect(resumed.code, resumed.stderr).to.equal(0);
    expect(resumed.stdout).to.contain(`done: 12/12 runs finished (${12 - partial.runs.length} run now, ${partial.runs.length} already done)`);
    const a = await readStore(reference);
    const b = await readStore(out);
    expect(b.runs.map((r) => r.run_id)).to.deep.equal(a.runs.map((r) => r.run_id));
    expect(b.runs.every((r) => r.n === 1)).to.equal(true);
    expect(b.metrics).to.deep.equal(a.metrics);
    expect(b.norms).to.deep.equal(a.norms);
  });

  it("interrupt - Ctrl-C (SIGINT) stops cleanly mid-run, keeps finished runs and exits 130", async () => {
    const dir = tmp();
    const out = join(dir, "out");
    // Two quick runs, then two of 10⁷ steps (minutes each): the signal, sent once both quick results
    // are printed, always finds the third run training and must cancel it.
    const spec = `name: tiny\nbase: { ${BASE}, depth: 1, observations: 60, eval_every: 100000 }\ngrid: { steps: [2500, 10000000] }\nseeds: 2\n`;
    const { child } = await startUntil(["run", writeSpec(dir, spec), "--out", out, "--threads", "1"], /^\[\d+\/4\]/, 2);
    child.kill("SIGINT");
    expect(await exited(child)).to.equal(130);
    const { runs } = await readStore(out); // the cancelled third run is not stored, nor the fourth
    expect(runs.map((r) => r.status)).to.deep.equal(["ok", "ok"]);
  });
});
