import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { dtf } from "./support.ts";

const small = ["--order", "3", "--dim", "5", "--components", "25", "--observations", "60", "--steps", "100", "--eval-every", "25"];

describe("dtf train", () => {
  it("train --json - one JSON line per evaluation and a result line with the documented fields", async () => {
    const { code, stdout } = await dtf(["train", ...small, "--json"]);
    expect(code).to.equal(0);
    const lines = stdout.trim().split("\n").map((l) => JSON.parse(l));
    const metrics = lines.filter((l) => l.type === "metrics");
    expect(metrics.map((m) => m.step)).to.deep.equal([0, 25, 50, 75, 100]);
    const result = lines.at(-1);
    expect(result.type).to.equal("result");
    for (const key of ["status", "steps", "train_loss", "recon_error", "heldout_mse", "component_norms", "cp_erank", "unfolding_eranks", "wall_ms"]) {
      expect(result, key).to.have.property(key);
    }
    expect(result.status).to.equal("ok");
    expect(result.steps).to.equal(100);
    expect(result.unfolding_eranks).to.have.length(3);
    expect(result.recon_error).to.equal(metrics.at(-1).recon_error);
  });

  it("train - a YAML spec file, with flags overriding it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dtf-cli-"));
    const file = join(dir, "run.yaml");
    writeFileSync(file, "model: cp\norder: 3\ndim: [4, 5, 3]\ncomponents: 12\nobservations: 30\nsteps: 40\neval_every: 20\ndepth: 2\n");
    const { code, stdout } = await dtf(["train", file, "--depth", "3", "--json"]);
    expect(code).to.equal(0);
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
    expect(result.spec.dim).to.deep.equal([4, 5, 3]);
    expect(result.spec.depth).to.equal(3);
  });

  it("train - an unknown flag exits 2 with a did-you-mean", async () => {
    const { code, stderr, stdout } = await dtf(["train", "--deptth", "2"]);
    expect(code).to.equal(2);
    expect(stderr).to.contain("unknown option --deptth (did you mean --depth?)");
    expect(stdout).to.equal("");
  });

  it("train - bad values exit 2 naming every field and the allowed values, nothing is trained", async () => {
    const { code, stderr, stdout } = await dtf(["train", "--model", "cpd", "--depth", "0", "--optimizer", "sgd"]);
    expect(code).to.equal(2);
    expect(stderr).to.contain('model: must be one of cp, tucker, matrix, nuclear, got "cpd"');
    expect(stderr).to.contain("depth: must be an integer from 1 to 32, got 0");
    expect(stderr).to.contain("optimizer: must be one of gd, grouprmsprop, adam");
    expect(stdout).to.equal("");
  });

  it("train - a spec file that is not a mapping, or missing, exits 2 naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dtf-cli-"));
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "- 1\n- 2\n");
    const a = await dtf(["train", file]);
    expect(a.code).to.equal(2);
    expect(a.stderr).to.contain(`${file} must hold a mapping`);
    const b = await dtf(["train", join(dir, "missing.yaml")]);
    expect(b.code).to.equal(2);
    expect(b.stderr).to.contain("cannot read spec file");
  });

  it("train - a diverging run prints status diverged and exits 1, not a crash", async () => {
    const { code, stdout } = await dtf(["train", ...small, "--optimizer", "gd", "--lr", "10000", "--init-std", "1", "--json"]);
    expect(code).to.equal(1);
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
    expect(result.status).to.equal("diverged");
  });

  it("train --replay - replays a reference dump", async () => {
    const dump = new URL("../../engine/test/fixtures/cp-L1.init.json", import.meta.url).pathname;
    const { code, stdout } = await dtf(["train", "--order", "3", "--dim", "5", "--observations", "60", "--optimizer", "gd", "--lr", "2", "--steps", "50", "--eval-every", "50", "--replay", dump, "--json"]);
    expect(code).to.equal(0);
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
    expect(result.recon_error).to.be.closeTo(0.9787, 1e-4);
    // the recorded spec is the dump's (made with --gt_rank 3, 60 observations), not the defaults
    expect(result.spec).to.include({ observations: 60, target_rank: 3, init_mode: "per_layer" });
  });
});
