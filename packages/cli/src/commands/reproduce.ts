// dtf reproduce: the paper's figures' sweeps, run or submitted, their reports and the index.
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { runAggregator } from "@dtf/aggregator";
import { submitSweep, sweepStatus } from "@dtf/coordinator";
import { runSweepLocally } from "@dtf/coordinator/local";
import { type ReproducedSweep, writeReport, writeReproductionIndex } from "@dtf/report";
import { ResultStore } from "@dtf/store";
import type { LoadedSweep } from "@dtf/sweep";
import { type ParsedArgs, showHelp } from "../args.ts";
import { EXIT, UsageError } from "../errors.ts";
import { intFlag, loadSweepPath, MAX_THREADS, outputDir } from "../inputs.ts";
import { parseCommandArgs } from "../options.ts";
import { ProgressDisplay } from "../progress.ts";
import { shutdownSignal, withNats } from "./cluster.ts";

/**
 * The sweeps behind each figure (docs/results.md) and the claims that are its verdict. F-2 is
 * measured on F-1's runs; F-1 and F-3 also run with matched end-to-end init so the depth effect
 * is told apart from the init effect. Each report shows every claim its axes allow; the index
 * and the summary lines show the figure's own.
 */
export const FIGURES: Record<string, { specs: string[]; claims: string[] }> = {
  "F-A": { specs: ["F-A"], claims: ["incremental-learning"] },
  "F-B": { specs: ["F-B"], claims: ["nuclear-baseline", "recovery-threshold"] },
  "F-1": { specs: ["F-1", "F-1-matched"], claims: ["incremental-learning"] },
  "F-2": { specs: ["F-1", "F-1-matched"], claims: ["accuracy-vs-depth", "convergence"] },
  "F-3": { specs: ["F-3", "F-3-matched"], claims: ["recovery-threshold"] },
  "F-4": { specs: ["F-4"], claims: ["low-rank"] },
  "F-5": { specs: ["F-5"], claims: ["growth-law"] },
  "F-6": { specs: ["F-6"], claims: ["init-scale", "accuracy-vs-depth"] },
};

/** The shipped specs: examples/paper/ of the repository (or of the image). */
const SHIPPED_SPECS = fileURLToPath(new URL("../../../../examples/paper/", import.meta.url));
const POLL_MS = 2000;

export const REPRODUCE_HELP = `dtf reproduce [FIGURE…|all] [--quick|--full] [--out DIR] [--threads N] [--specs DIR] [--nats URL …]

Runs the sweeps behind the paper's figures and writes one report per sweep (each opening with
its Claims: statistic, 95 % interval, verdict) and DIR/index.html with every verdict
(default DIR: runs/paper-quick or runs/paper-full). Run it again to resume.
  FIGURE         ${Object.keys(FIGURES).join(" ")} or all (default all); F-2 shares F-1's runs;
                 the index shows each figure's claims, each report every claim its axes allow
  --quick        laptop sizes, minutes on 2 cores (default)
  --full         the paper's sizes, for a cluster
  --specs DIR    the sweep files DIR/quick/<name>.yaml and DIR/full/<name>.yaml (default: examples/paper)
  --threads N    trainings in parallel when running locally (default: the number of cores)
  --nats URL     submit to a cluster instead (workers there run the jobs) and aggregate into DIR;
                 takes the cluster flags of dtf submit`;

/** The spec names of the chosen figures, each once, in figure order, with the claims they answer. */
export function specNames(figures: string[]): { figure: string; name: string; claims: string[] }[] {
  const chosen = figures.length === 0 || figures.includes("all") ? Object.keys(FIGURES) : figures;
  for (const f of chosen) {
    if (!(f in FIGURES)) throw new UsageError(`unknown figure ${f} (choose from ${Object.keys(FIGURES).join(", ")} or all)`);
  }
  const names = [...new Set(chosen.flatMap((f) => FIGURES[f].specs))];
  return names.map((name) => {
    const of = chosen.filter((f) => FIGURES[f].specs.includes(name));
    return { figure: of.join(", "), name, claims: [...new Set(of.flatMap((f) => FIGURES[f].claims))] };
  });
}

export async function reproduceCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseCommandArgs("reproduce", argv);
  if (args.flags.has("help")) return showHelp(out, REPRODUCE_HELP);
  if (args.flags.has("quick") && args.flags.has("full")) throw new UsageError("choose one of --quick and --full");
  const size = args.flags.has("full") ? "full" : "quick";
  const specsDir = args.values.specs?.at(-1) ?? SHIPPED_SPECS;
  const dir = outputDir("out", args.values.out?.at(-1) ?? join("runs", `paper-${size}`));
  const threads = intFlag(args, "threads", 1, MAX_THREADS, availableParallelism());
  const wanted = specNames(args.positionals);
  // every spec is read and validated before anything runs: a bad one costs nothing
  const sweeps: { figure: string; name: string; claims: string[]; loaded: LoadedSweep }[] = [];
  for (const { figure, name, claims } of wanted) {
    const file = join(specsDir, size, `${name}.yaml`);
    if (!existsSync(file)) throw new UsageError(`figure ${figure}: no sweep file ${file}`);
    sweeps.push({ figure, name, claims, loaded: await loadSweepPath(file) });
  }
  const started = Date.now();
  const signal = shutdownSignal("dtf reproduce");
  if (args.values.nats || process.env.DTF_NATS_URL) await onCluster(args, dir, sweeps, signal, out);
  else await locally(dir, threads, sweeps, signal, out);
  if (signal.aborted) return 130;
  const done: ReproducedSweep[] = [];
  for (const s of sweeps) {
    const html = join(dir, s.name, "report.html");
    const { content } = await writeReport(dir, { sweep: s.loaded.sweepId, out: html });
    // the figure's own claims, in its order; one its data cannot check says so
    const claims = s.claims.map(
      (id) =>
        content.claims.find((c) => c.id === id) ?? { id, figure: s.figure, claim: id, measured: [], verdict: "not enough data" as const, why: "the sweep's axes do not allow this claim" },
    );
    done.push({ figure: s.figure, name: s.name, sweepId: s.loaded.sweepId, report: relative(dir, html), runs: content.data.runs.length, claims });
    for (const c of claims) out(`${s.figure} ${s.name}: ${c.verdict} — ${c.id}: ${c.why}`);
  }
  const index = writeReproductionIndex(join(dir, "index.html"), `dtf reproduce --${size} (${basename(specsDir)})`, done);
  out(`${sweeps.length} sweeps in ${((Date.now() - started) / 1000).toFixed(0)} s; index: ${index}`);
  return EXIT.ok;
}

/** Each sweep in turn on this machine, into one store (resumable, like dtf run). */
async function locally(dir: string, threads: number, sweeps: { name: string; loaded: LoadedSweep }[], signal: AbortSignal, out: (l: string) => void) {
  for (const { name, loaded } of sweeps) {
    if (signal.aborted) return;
    out(`${name}: sweep ${loaded.sweepId}, ${loaded.count} runs on ${threads} threads`);
    const progress = new ProgressDisplay(loaded.count, process.stdout.isTTY === true, (t) => process.stdout.write(t), threads);
    await runSweepLocally(loaded, { out: dir, threads, signal, progress });
    progress.end();
  }
}

/** Submits every sweep, then stores each one's results in turn until the cluster has done it. */
async function onCluster(
  args: ParsedArgs,
  dir: string,
  sweeps: { name: string; loaded: LoadedSweep }[],
  signal: AbortSignal,
  out: (l: string) => void,
) {
  // one connection submits and aggregates: a server with per-role accounts needs one that may do both
  await withNats(args, "dtf-reproduce", undefined, async (nc) => {
    for (const { name, loaded } of sweeps) {
      const s = await submitSweep(nc, loaded);
      out(`${name}: sweep ${s.sweepId} submitted (${s.published} published, ${s.skipped} already done)`);
    }
    const store = await ResultStore.open(dir);
    try {
      for (const { name, loaded } of sweeps) {
        const stop = new AbortController();
        const aggregating = runAggregator(nc, store, { signal: AbortSignal.any([signal, stop.signal]), sweepId: loaded.sweepId });
        for (;;) {
          // stored *here*: a sweep the cluster finished for another store is replayed into this one
          const status = await sweepStatus(nc, loaded.sweepId);
          const stored = await store.countFinished(loaded.sweepId);
          if (signal.aborted || stored + status.dead >= status.total) {
            out(`${name}: ${stored}/${status.total} stored, ${status.dead} dead-lettered`);
            break;
          }
          await new Promise((r) => setTimeout(r, POLL_MS));
        }
        stop.abort();
        await aggregating;
      }
    } finally {
      await store.close();
    }
  });
}
