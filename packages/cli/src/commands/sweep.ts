// The local sweep commands: plan, run, report and export.
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { DEFAULT_MAX_RUNS, expandRuns } from "@dtf/sweep";
import { coerce, type ParsedArgs, showHelp } from "../args.ts";
import { EXIT, UsageError } from "../errors.ts";
import { intFlag, loadSweepArg, MAX_THREADS, outputDir } from "../inputs.ts";
import { parseCommandArgs } from "../options.ts";
import { ProgressDisplay } from "../progress.ts";

export const PLAN_HELP = `dtf plan SPEC.yaml [--max-runs N] [--show K]

Validates a sweep and prints how many runs it expands to and the first K (default 10).`;

export const RUN_HELP = `dtf run SPEC.yaml [--out DIR] [--threads N] [--max-runs N]

Runs every run of the sweep on this machine (no broker) into the result store in DIR
(default runs/<sweep id>). Run it again to resume: finished runs are skipped. Ctrl-C stops
cleanly and keeps what finished.
  --threads N     trainings in parallel (default: the number of cores)
  --max-runs N    refuse sweeps larger than N runs (default ${DEFAULT_MAX_RUNS})`;

export const REPORT_HELP = `dtf report DIR [--out report.html] [--figures DIR] [--sweep ID] [--at KEY=VALUE …]

Writes the sweep's aggregated report: one self-contained HTML file (default DIR/report.html) that
opens with the paper's claims the sweep can check (statistic, 95 % interval, verdict), then the
figures the sweep's axes allow, the summary table and the overview, plus every figure as SVG,
PNG and CSV (default: figures/ next to the HTML). \`dtf run\` writes it at the end too. A store
with several sweeps shows the newest unless --sweep says which. While an aggregator or \`dtf run\`
writes the store, the report is made from a snapshot it writes on request. Panels that show one
run per depth are drawn at the grid point --at names (default: the most observed).`;

export const EXPORT_HELP = `dtf export DIR --format csv|parquet [--to OUTDIR]

Writes the store's tables (sweeps, runs, metrics, component_norms) as CSV or Parquet files
(default OUTDIR: DIR/export).`;

export async function planCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseCommandArgs("plan", argv);
  if (args.flags.has("help")) return showHelp(out, PLAN_HELP);
  const loaded = await loadSweepArg(args);
  const show = intFlag(args, "show", 1, 1_000_000, 10);
  out(`sweep ${loaded.sweepId}: ${loaded.count} runs`);
  let shown = 0;
  for (const run of expandRuns(loaded.sweep)) {
    if (shown++ >= show) break;
    out(`  ${String(run.index).padStart(6)}  ${run.runId}  ${JSON.stringify(run.point)}`);
  }
  if (loaded.count > show) out(`  … ${loaded.count - show} more`);
  return EXIT.ok;
}

export async function runCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseCommandArgs("run", argv);
  if (args.flags.has("help")) return showHelp(out, RUN_HELP);
  const loaded = await loadSweepArg(args);
  const threads = intFlag(args, "threads", 1, MAX_THREADS, availableParallelism());
  const dir = outputDir("out", args.values.out?.at(-1) ?? join("runs", loaded.sweepId));
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: stop now
    process.stderr.write("\ndtf run: stopping; finished runs are kept (run again to resume)\n");
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const tty = process.stdout.isTTY === true;
  const progress = new ProgressDisplay(loaded.count, tty, (t) => process.stdout.write(t), threads);
  out(`sweep ${loaded.sweepId}: ${loaded.count} runs on ${threads} threads → ${dir}`);
  try {
    const { runSweepLocally } = await import("@dtf/coordinator/local");
    const summary = await runSweepLocally(loaded, { out: dir, threads, signal: controller.signal, progress });
    progress.end();
    const t = progress.tally;
    out(
      `${summary.cancelled ? "stopped" : "done"}: ${t.done}/${t.total} runs finished (${summary.ran} run now, ${summary.skipped} already done), ` +
        `${t.failed} failed, ${t.diverged} diverged`,
    );
    const { writeReport } = await import("@dtf/report");
    const report = await writeReport(dir);
    out(`results: ${join(dir, "results.duckdb")}  (dtf export ${dir} --format csv)`);
    out(`report:  ${report.html}`);
    return summary.cancelled ? 130 : t.failed > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** The sweep directory argument; it must hold a result store (opening one would create it). */
async function storeDir(args: ParsedArgs): Promise<string> {
  const dir = args.positionals[0];
  if (!dir) throw new UsageError("expected a sweep directory");
  const { STORE_FILE } = await import("@dtf/store");
  if (!existsSync(join(dir, STORE_FILE))) throw new UsageError(`${dir} holds no result store (${STORE_FILE})`);
  return dir;
}

export async function exportCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseCommandArgs("export", argv);
  if (args.flags.has("help")) return showHelp(out, EXPORT_HELP);
  const dir = await storeDir(args);
  const format = args.values.format?.at(-1);
  if (format !== "csv" && format !== "parquet") throw new UsageError(format === undefined ? "--format is required: csv or parquet" : `--format must be csv or parquet, got ${format}`);
  const to = outputDir("to", args.values.to?.at(-1) ?? join(dir, "export"));
  const { openForReading } = await import("@dtf/store");
  const store = await openForReading(dir);
  try {
    for (const file of await store.exportTables(to, format)) out(file);
  } finally {
    await store.close();
  }
  return EXIT.ok;
}

export async function reportCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseCommandArgs("report", argv);
  if (args.flags.has("help")) return showHelp(out, REPORT_HELP);
  const at: Record<string, unknown> = {};
  for (const pair of args.values.at ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--at must be KEY=VALUE (a swept key and one of its values), got ${pair}`);
    at[pair.slice(0, eq)] = coerce(pair.slice(eq + 1));
  }
  const dir = await storeDir(args);
  const figures = args.values.figures?.at(-1);
  if (figures !== undefined) outputDir("figures", figures);
  const html = args.values.out?.at(-1);
  if (html !== undefined && html.trim() === "") throw new UsageError("--out must name a file, got an empty path");
  const { writeReport } = await import("@dtf/report");
  const { html: written, content } = await writeReport(dir, { out: html, figures, sweep: args.values.sweep?.at(-1), at });
  out(`${written}: ${content.figures.length} figures, ${content.data.runs.length} runs`);
  return EXIT.ok;
}
