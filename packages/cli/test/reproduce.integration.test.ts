// dtf reproduce end to end (integration tier: whole paper sweeps).
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ResultStore } from "@dtf/store";
import { expect } from "chai";
import { dtf } from "./support.ts";

/**
 * `dtf reproduce F-3 --quick` end to end on a tiny override of the shipped specs (--specs): order 3,
 * 6×6×6, rank 1, three depths × three |Ω| × three seeds per sweep — seconds, not minutes.
 */
function tinySpecs(): string {
  const dir = mkdtempSync(join(tmpdir(), "dtf-specs-"));
  mkdirSync(join(dir, "quick"));
  const base = "{ model: cp, order: 3, dim: 6, components: 36, target_rank: 1, lr: 0.002, steps: 6000, eval_every: 50, init_std: 0.1";
  const grid = "grid: { depth: [1, 2, 3], observations: [30, 50, 80] }\nseeds: 3\n";
  writeFileSync(join(dir, "quick", "F-3.yaml"), `name: tiny-F-3\nbase: ${base} }\n${grid}`);
  writeFileSync(join(dir, "quick", "F-3-matched.yaml"), `name: tiny-F-3-matched\nbase: ${base}, init_mode: end_to_end }\n${grid}`);
  return dir;
}

describe("dtf reproduce", () => {
  it("reproduce - F-3 --quick runs both F-3 sweeps, writes a report each and an index with the verdicts; again resumes", async () => {
    const specs = tinySpecs();
    const out = mkdtempSync(join(tmpdir(), "dtf-reproduce-"));
    const first = await dtf(["reproduce", "F-3", "--quick", "--specs", specs, "--out", out, "--threads", "2"]);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/F-3 F-3: reproduced — recovery-threshold: the deepest model recovers from fewer observations than L=1/);
    expect(first.stdout).to.match(/F-3 F-3-matched: \S.* — recovery-threshold:/);
    const index = readFileSync(join(out, "index.html"), "utf8");
    expect(index).to.contain('href="F-3/report.html"').and.to.contain('href="F-3-matched/report.html"');
    expect(index).to.contain('<span class="verdict reproduced">reproduced</span>');
    const report = readFileSync(join(out, "F-3", "report.html"), "utf8");
    expect(report).to.contain("<h2>Claims</h2>").and.to.contain("claim-recovery-threshold");

    const again = await dtf(["reproduce", "F-3", "--quick", "--specs", specs, "--out", out, "--threads", "2"]);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.not.match(/^\[\d+\/27\]/m); // nothing ran: every run was already stored
    const store = await ResultStore.open(out);
    const rows = await store.query<{ sweeps: number; runs: number; distinct_runs: number }>(
      "SELECT count(DISTINCT sweep_id)::INTEGER AS sweeps, count(*)::INTEGER AS runs, count(DISTINCT (sweep_id, run_id))::INTEGER AS distinct_runs FROM runs",
    );
    await store.close();
    expect(rows).to.deep.equal([{ sweeps: 2, runs: 54, distinct_runs: 54 }]);
  });

  it("reproduce - an unknown figure, or a missing sweep file, is one usage line (exit 2) and runs nothing", async () => {
    const bad = await dtf(["reproduce", "F-9"]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr.trim()).to.equal("dtf reproduce: unknown figure F-9 (choose from F-A, F-B, F-1, F-2, F-3, F-4, F-5, F-6 or all)");
    const specs = tinySpecs();
    const missing = await dtf(["reproduce", "F-5", "--specs", specs, "--out", mkdtempSync(join(tmpdir(), "dtf-reproduce-"))]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.match(/^dtf reproduce: figure F-5: no sweep file .*quick\/F-5\.yaml\n$/);
  });
});
