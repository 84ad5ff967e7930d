/**
 * The CP completion kernel alone, for one or more builds of the native addon side by side: calls
 * alternate between builds, so a neighbour slowing the machine slows them alike, and the minimum
 * and first quartile (not the median) are reported. Also checks that every build gives the same
 * bits. Build a candidate with `npm run build:native`, copy it aside, change, build again:
 *
 *   node --import tsx scripts/bench/cp-kernel.ts [--builds old.node,new.node] [--shapes o3_d30,...] [--calls 1500]
 */
import { cpus } from "node:os";
import { resolve } from "node:path";
import { kernelsFromAddon, NATIVE_ADDON_PATH, planCpCompletion, rngStream, sampleWithoutReplacement } from "@dtf/engine/internal";
import { HELD_OUT, TABLE_SHAPES } from "./cp-shapes.ts";
import { arg } from "./support.ts";

const builds = arg("builds", NATIVE_ADDON_PATH)
  .split(",")
  .map((path) => ({ path, kernels: kernelsFromAddon(resolve(path)) }));
const only = arg("shapes", "");
const calls = Number(arg("calls", "1500"));

const shapes = [...TABLE_SHAPES, ...HELD_OUT].filter(
  (s, i, all) => all.findIndex((t) => t.id === s.id) === i && (!only || only.split(",").some((o) => s.id.includes(o))),
);
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))];
const bits = (arrays: Float64Array[]) => arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64")).join();

console.log(`Machine: ${cpus()[0].model}, ${cpus().length} cores, Node ${process.version}; CP completion kernel alone, ms (min / p25)`);
console.log(`\n| shape | ${builds.map((b) => b.path.split("/").pop()).join(" | ")} | same bits |\n|---|${builds.map(() => "---|").join("")}---|`);
for (const { id, order, d, R, obs } of shapes) {
  const dims = Array<number>(order).fill(d);
  const rng = rngStream(1, "observations");
  const observed = sampleWithoutReplacement(rng, d ** order, obs);
  const values = Float64Array.from(observed, () => rng.normal());
  const plan = planCpCompletion(dims, R, observed, values);
  const factors = dims.map(() => Float64Array.from({ length: d * R }, () => 0.1 * rng.normal()));
  const grads = dims.map(() => new Float64Array(d * R));
  const results = builds.map((b) => {
    const loss = b.kernels.cpCompletion(plan, factors, grads);
    return `${loss}/${bits(grads)}`;
  });
  const times = builds.map(() => [] as number[]);
  // ~0.5 s per build on the larger shapes, more calls on the small ones
  const n = Math.max(50, Math.min(calls, Math.round(2e8 / (R * obs))));
  for (let i = 0; i < n; i++) {
    builds.forEach((b, j) => {
      const t0 = performance.now();
      b.kernels.cpCompletion(plan, factors, grads);
      times[j].push(performance.now() - t0);
    });
  }
  const cells = times.map((t) => `${quantile(t, 0).toFixed(3)} / ${quantile(t, 0.25).toFixed(3)}`);
  console.log(`| ${id} | ${cells.join(" | ")} | ${results.every((r) => r === results[0]) ? "yes" : "**no**"} |`);
}
