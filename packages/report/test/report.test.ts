import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ResultStore } from "@dtf/store";
import { expect } from "chai";
import { fmtStat, writeReport } from "../src/index.ts";
import { depthObservationGrid, makeStore } from "./support.ts";

describe("report", () => {
  let gridDir: string;
  before(async () => {
    gridDir = await makeStore("grid", depthObservationGrid());
  });

  it("figure selection - depth × observations gives the per-depth, per-observation, rank and heatmap figures", async () => {
    const { content } = await writeReport(gridDir);
    expect(content.axes).to.deep.equal(["depth", "observations"]);
    expect(content.figures.map((f) => f.id)).to.deep.equal([
      "component-norms",
      "error-vs-steps",
      "error-vs-observations",
      "eranks-vs-depth",
      "heatmap-depth-observations",
      "parallel-coordinates",
      "run-times",
    ]);
    expect(content.notes.join(" ")).to.contain("Growth-law fit: needs runs with a growth trace");
    // panels with one run per depth show the most observed grid point
    expect(content.representative).to.deep.equal({ observations: 80 });
  });

  it("figure selection - a traced plain-GD init-scale sweep gets the growth-law figures and no observation/depth figures", async () => {
    const dir = await makeStore(
      "growth",
      [0.05, 0.1].map((init_std) => ({
        point: { init_std, seed: 0 },
        spec: {
          order: 3, dim: 6, components: 12, target_rank: 1, target_norm: 10, observations: 120, init_std, init_mode: "balanced",
          optimizer: "gd", lr: 0.1, steps: 2000, eval_every: 100, trace_every: 5,
        },
      })),
    );
    const { content, html } = await writeReport(dir);
    const ids = content.figures.map((f) => f.id);
    expect(ids).to.include.members(["component-norms", "error-vs-steps", "growth-law", "growth-prefactor", "parallel-coordinates", "run-times"]);
    expect(ids).to.not.include.members(["error-vs-observations", "eranks-vs-depth"]);
    expect(ids.some((id) => id.startsWith("heatmap"))).to.equal(false);
    expect(content.growth).to.have.length(2); // one group per init scale
    for (const g of content.growth) expect(g.exponent.value).to.be.closeTo(4 / 3, 0.01);
    const page = readFileSync(html, "utf8");
    expect(page).to.contain("Growth-law fits");
    expect(page.indexOf("<h2>Claims</h2>")).to.be.below(page.indexOf("<h2>Results</h2>"));
  });

  it("numbers - the summary table equals a direct query of the store", async () => {
    const { content, html } = await writeReport(gridDir);
    const store = await ResultStore.open(gridDir);
    const rows = await store.query<{ depth: number; observations: number; mean: number; std: number; n: number; erank: number }>(
      `SELECT depth, observations, avg(recon_error) AS mean, stddev_samp(recon_error) AS std, count(*)::INTEGER AS n,
              avg(list_avg(unfolding_eranks)) AS erank
       FROM runs WHERE status IN ('ok', 'diverged') GROUP BY depth, observations ORDER BY depth, observations`,
    );
    await store.close();
    const text = readFileSync(html, "utf8");
    expect(rows).to.have.length(6);
    for (const row of rows) {
      const g = content.summary.find((s) => s.point.depth === row.depth && s.point.observations === row.observations)!;
      expect(g.recon!.mean).to.be.closeTo(row.mean, 1e-12 * row.mean);
      expect(g.recon!.std).to.be.closeTo(row.std, 1e-9 * row.mean);
      expect(g.recon!.n).to.equal(row.n);
      expect(g.unfoldingErank!.mean).to.be.closeTo(row.erank, 1e-12 * row.erank);
      expect(text).to.contain(`<td>${fmtStat(g.recon)}</td>`);
    }
  });

  it("files - every figure exported as SVG, PNG and CSV next to the HTML; the page is self-contained", async () => {
    const figures = join(gridDir, "elsewhere");
    const { content, html } = await writeReport(gridDir, { out: join(gridDir, "out", "r.html"), figures });
    for (const f of content.figures) {
      for (const ext of ["svg", "png", "csv"]) expect(statSync(join(figures, `${f.id}.${ext}`)).size, `${f.id}.${ext}`).to.be.greaterThan(100);
    }
    const csv = readFileSync(join(figures, "error-vs-observations.csv"), "utf8").trim().split("\n");
    expect(csv[0]).to.contain("depth,observations");
    expect(csv).to.have.length(7);
    // the plotted medians are the store's medians
    const store = await ResultStore.open(gridDir);
    const medians = await store.query<{ depth: number; observations: number; m: number }>(
      "SELECT depth, observations, median(recon_error) AS m FROM runs GROUP BY depth, observations",
    );
    await store.close();
    const head = csv[0].split(",");
    for (const line of csv.slice(1)) {
      const cells = line.split(",");
      const at = (k: string) => Number(cells[head.indexOf(k)]);
      const row = medians.find((r) => r.depth === at("depth") && r.observations === at("observations"))!;
      expect(at("median")).to.be.closeTo(row.m, 1e-12 * row.m);
    }
    const text = readFileSync(html, "utf8");
    expect(text).to.not.match(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(text.match(/<svg/g)!.length).to.be.at.least(content.figures.length);
  });

  it("failures - failed and diverged runs are counted and listed with their reasons", async () => {
    const runs = depthObservationGrid().slice(0, 2);
    runs.push({ point: { depth: 1, observations: 40, seed: 2 }, spec: runs[0].spec, fail: "ERR_WORKER_OUT_OF_MEMORY: heap limit" });
    runs.push({ point: { depth: 1, observations: 40, seed: 3 }, spec: { ...runs[0].spec, seed: 3, optimizer: "gd", lr: 1e4, init_std: 1 } });
    const dir = await makeStore("failures", runs);
    const { html } = await writeReport(dir);
    const text = readFileSync(html, "utf8");
    expect(text).to.contain("1 failed");
    expect(text).to.contain("1 diverged");
    expect(text).to.contain("ERR_WORKER_OUT_OF_MEMORY: heap limit");
    expect(text).to.match(/<span class="status diverged">diverged<\/span><\/td><td>diverged/);
  });
});
