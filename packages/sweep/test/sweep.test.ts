import { SpecError } from "@dtf/engine";
import { expect } from "chai";
import { canonicalJson, expandRuns, loadSweepText, runAt, runIdOf, SpecParseError } from "../src/index.ts";

const example = `name: depth-vs-observations
base: { model: cp, order: 3, dim: 10, components: 100, problem: completion, target_rank: 2, target_norm: 1, init_std: 0.1, optimizer: grouprmsprop, lr: 0.001, steps: 30000, eval_every: 25 }
grid: { depth: [1, 2, 3], observations: [100, 150, 200, 250, 300] }
seeds: 5
`;

/** The SpecError a bad sweep text raises (fails the test if it raises nothing). */
function issuesOf(text: string, maxRuns?: number) {
  try {
    loadSweepText(text, "spec.yaml", maxRuns);
  } catch (err) {
    expect(err).to.be.instanceOf(SpecError);
    return (err as SpecError).message;
  }
  expect.fail("expected a SpecError");
}

describe("sweep spec", () => {
  it("expansion - the issue's example gives 3 × 5 × 5 = 75 runs in a fixed order", () => {
    const loaded = loadSweepText(example, "spec.yaml");
    expect(loaded.count).to.equal(75);
    const runs = [...expandRuns(loaded.sweep)];
    expect(runs).to.have.length(75);
    expect(runs[0].point).to.deep.equal({ depth: 1, observations: 100, seed: 0 });
    expect(runs[1].point).to.deep.equal({ depth: 1, observations: 100, seed: 1 });
    expect(runs[5].point).to.deep.equal({ depth: 1, observations: 150, seed: 0 });
    expect(runs[74].point).to.deep.equal({ depth: 3, observations: 300, seed: 4 });
    expect(runs[74].spec.depth).to.equal(3);
    expect(runs[74].spec.init_std).to.equal(0.1);
    expect(new Set(runs.map((r) => r.runId)).size).to.equal(75);
  });

  it("expansion - deterministic: same file, same ids; the same point in another sweep has the same id", () => {
    const a = [...expandRuns(loadSweepText(example, "a.yaml").sweep)].map((r) => r.runId);
    const b = [...expandRuns(loadSweepText(example, "b.yaml").sweep)].map((r) => r.runId);
    expect(a).to.deep.equal(b);
    const other = loadSweepText(example.replace("[1, 2, 3]", "[3]").replace("seeds: 5", "seeds: [4]"), "c.yaml");
    const only = [...expandRuns(other.sweep)].find((r) => r.point.observations === 300)!;
    expect(a).to.include(only.runId);
    expect(only.runId).to.equal(runIdOf(only.spec));
  });

  it("expansion - zip groups vary together, JSON files work too", () => {
    const json = JSON.stringify({
      name: "zipped",
      base: { order: 3, dim: 5, components: 25, observations: 40, steps: 10 },
      grid: { optimizer: ["gd", "grouprmsprop"] },
      zip: [{ depth: [1, 2, 3], init_std: [0.1, 0.3, 0.5] }],
      seeds: [7],
    });
    const loaded = loadSweepText(json, "zipped.json");
    const runs = [...expandRuns(loaded.sweep)];
    expect(loaded.count).to.equal(6);
    expect(runs.map((r) => [r.spec.depth, r.spec.init_std])).to.deep.equal([
      [1, 0.1], [2, 0.3], [3, 0.5], [1, 0.1], [2, 0.3], [3, 0.5],
    ]);
    expect(runs.every((r) => r.spec.seed === 7)).to.equal(true);
  });

  it("expansion - streaming: the first runs of a 100 000-run grid come without expanding the rest", () => {
    const big = `name: big\nbase: { order: 3, dim: 10, steps: 10 }\ngrid: { lr: [${Array.from({ length: 1000 }, (_, i) => (i + 1) / 1e4).join(", ")}] }\nseeds: 100\n`;
    const loaded = loadSweepText(big, "big.yaml");
    expect(loaded.count).to.equal(100_000);
    // Count the grid values read: a lazy expansion reads a few of the 1000 lr values, an eager one all.
    let reads = 0;
    const lrs = loaded.sweep.grid.lr;
    loaded.sweep.grid.lr = new Proxy(lrs, {
      get(target, key, receiver) {
        if (typeof key === "string" && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    });
    const it = expandRuns(loaded.sweep);
    const first = [it.next().value!, it.next().value!, it.next().value!];
    expect(first.map((r) => r.index)).to.deep.equal([0, 1, 2]);
    expect(first.map((r) => r.point)).to.deep.equal([0, 1, 2].map((seed) => ({ lr: 0.0001, seed })));
    const afterThree = reads;
    for (let i = 0; i < 100; i++) it.next(); // the next lr value starts at run 100
    expect(reads - afterThree, "reads for the next 100 runs").to.be.below(1000);
  });

  it("expansion - runAt(i) is the i-th run of expandRuns (grid, zip and seeds), and refuses an index outside the sweep", () => {
    const { sweep } = loadSweepText(
      "name: mixed\nbase: { order: 3, dim: 5 }\ngrid: { depth: [1, 2, 3], init_std: [0.01, 0.1] }\nzip: [{ steps: [100, 200], eval_every: [10, 20] }]\nseeds: [4, 7]\n",
      "mixed.yaml",
    );
    const all = [...expandRuns(sweep)];
    expect(all).to.have.length(24);
    all.forEach((run, i) => expect(runAt(sweep, i), `index ${i}`).to.deep.equal(run));
    expect(() => runAt(sweep, 24)).to.throw(RangeError, "outside the sweep's 24 runs");
    expect(() => runAt(sweep, -1)).to.throw(RangeError);
  });

  it("canonical JSON - key order does not change the text", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: 2 } })).to.equal('{"a":{"c":2,"d":[1,{"e":3,"f":2}]},"b":1}');
  });

  it("validation - unknown keys get a did-you-mean and their line", () => {
    const msg = issuesOf(`name: x\nbase: { order: 3 }\ngrid:\n  deptth: [1, 2]\nseed: 3\n`);
    expect(msg).to.contain("spec.yaml:4: grid.deptth: unknown run-spec key (did you mean 'depth'?)");
    expect(msg).to.contain("spec.yaml:5: seed: unknown key (did you mean 'seeds'?)");
  });

  it("validation - wrong types and impossible values are all reported, with the list index", () => {
    const msg = issuesOf(`name: x\nbase: { order: 3, dim: 10, optimizer: sgd }\ngrid:\n  depth: [1, 0, 2]\n  lr: [0.1, fast]\nseeds: 0\n`);
    expect(msg).to.contain("spec.yaml:2: base.optimizer: must be one of gd, grouprmsprop, adam");
    expect(msg).to.contain("spec.yaml:4: grid.depth[1]: must be an integer from 1 to 32, got 0");
    expect(msg).to.contain('spec.yaml:5: grid.lr[1]: must be a finite number > 0 and <= 1000000, got "fast"');
    expect(msg).to.contain("seeds: must be a count >= 1");
  });

  it("validation - combinations that are impossible together name the grid point", () => {
    const msg = issuesOf(`name: x\nbase: { order: 3 }\ngrid:\n  dim: [5, 10]\n  observations: [100, 500]\n`);
    expect(msg).to.contain("grid.observations: must be <= 125 (the number of entries) for completion, got 500");
    expect(msg).to.contain('(at grid point {"dim":5,"observations":500})');
    const rank = issuesOf(`name: x\nbase: { model: matrix, dim: 4 }\ngrid: { target_rank: [2, 5] }\n`);
    expect(rank).to.contain("grid.target_rank: must be <= 4");
  });

  it("validation - a key set twice, zip lists of unequal length, repeated values", () => {
    const msg = issuesOf(`name: x\nbase: { depth: 2 }\ngrid: { depth: [1, 1] }\nzip:\n  - { lr: [0.1, 0.2], init_std: [0.1] }\n`);
    expect(msg).to.contain("grid.depth: is already set in base");
    expect(msg).to.contain("zip[0]: lists must have equal lengths to vary together, got 2 and 1");
    expect(issuesOf(`name: x\nbase: {}\ngrid: { lr: [0.1, 0.2, 0.1] }\n`)).to.contain("grid.lr[2]: repeats the value 0.1: it would run the same points twice");
    expect(issuesOf(`name: x\nbase: {}\ngrid: { lr: [0.1, 0.2] }\nseeds: [1, 2, 1]\n`)).to.contain("seeds: repeats a seed");
    // in a zip group a value may repeat (the tuples differ), a whole tuple may not
    expect(loadSweepText(`name: x\nbase: {}\nzip:\n  - { depth: [1, 2, 1], lr: [0.1, 0.1, 0.2] }\n`, "spec.yaml").count).to.equal(3);
    expect(issuesOf(`name: x\nbase: {}\nzip:\n  - { depth: [1, 2, 1], lr: [0.1, 0.1, 0.1] }\n`)).to.contain(
      "zip[0]: repeats the combination [1,0.1] of depth, lr at position 2",
    );
    // two grid values that resolve to the same spec (width defaults to dim = 10) are one run, not two
    expect(issuesOf(`name: x\nbase: { dim: 10 }\ngrid: { width: [10, 8, [10, 10, 10]] }\n`)).to.contain("give the same run spec");
  });

  it("validation - the --max-runs guard refuses a grid before expanding it", () => {
    const msg = issuesOf(example, 50);
    expect(msg).to.contain("expands to 75 runs, more than --max-runs 50");
  });

  it("parsing - broken YAML is a parse error naming the file", () => {
    expect(() => loadSweepText("name: [unclosed\n", "bad.yaml")).to.throw(SpecParseError, "bad.yaml: not valid YAML");
  });
});
