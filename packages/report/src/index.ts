// writeReport: a store → its HTML report and figure files.
import { writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { ArgumentError, } from "@dtf/engine";
import { makeDirectories, openForReading, type ResultStore } from "@dtf/store";
import { representativePoint, representatives, summarize, sweptAxes } from "./analysis.ts";
import { evaluateClaims } from "./claims.ts";
import { chooseSweep, loadNorms, loadReportData } from "./data.ts";
import {
  componentNormsFigure,
  eranksVsDepthFigure,
  errorVsObservationsFigure,
  errorVsStepsFigure,
  type Figure,
  growthLawFigure,
  growthPrefactorFigure,
  heatmapFigure,
  parallelCoordinatesFigure,
  runtimeFigure,
} from "./figures.ts";
import { growthGroups } from "./growth.ts";
import { type RenderedFigure, type ReportContent, reportHtml } from "./html.ts";
import { toCsv, toPng, toSvg } from "./render.ts";

export type { GroupSummary } from "./analysis.ts";
export type { Claim, Verdict } from "./claims.ts";
export type { ReportContent } from "./html.ts";
export { fmt, fmtStat } from "./html.ts";
export type { ReproducedSweep } from "./index-page.ts";
export { writeReproductionIndex } from "./index-page.ts";

export type ReportOptions = {
  /** The HTML file. @default DIR/report.html */
  out?: string;
  /** Where each figure's SVG, PNG and CSV go. @default `figures/` next to the HTML */
  figures?: string;
  /** The sweep to show when the store holds several. @default the only one, else the newest */
  sweep?: string;
  /** Grid values of the panels that show one run per depth. @default the most observed point */
  at?: Record<string, unknown>;
};

/**
 * Chooses the figures the sweep's axes allow: component norms and error vs steps always; error vs
 * observations when observations vary; effective ranks vs depth when depth varies; the growth law
 * when plain-GD runs exist; a heatmap per pair of swept axes (up to 3); the overview figures.
 */
export async function selectFigures(
  store: ResultStore,
  sweep?: string,
  at: Record<string, unknown> = {},
): Promise<{ content: Omit<ReportContent, "figures">; figures: Figure[] }> {
  const sweepId = await chooseSweep(store, sweep);
  const data = await loadReportData(store, sweepId);
  const axes = sweptAxes(data.runs);
  const summary = summarize(data.runs, axes);
  const finished = data.runs.filter((r) => r.status === "ok" || r.status === "diverged");
  const depths = [...new Set(data.runs.map((r) => r.spec.depth))].sort((a, b) => a - b);
  const figures: Figure[] = [];
  const notes: string[] = [];
  const representative = representativePoint(data.runs, axes, at);
  const reps = representatives(data, "depth", representative);
  if (reps.length === 0 && finished.length > 0 && Object.keys(at).length > 0) {
    throw new ArgumentError(`--at: no finished run at the grid point ${JSON.stringify(at)} (swept: ${axes.join(", ") || "nothing"})`);
  }
  const norms = await loadNorms(store, sweepId, reps.map((r) => r.run_id));
  if (finished.length > 0) {
    figures.push(componentNormsFigure(reps, norms, depths));
    figures.push(errorVsStepsFigure(finished, data.metrics, axes, depths));
  } else {
    notes.push("No run has finished yet: only the overview is shown.");
  }
  if (axes.includes("observations") && finished.length > 0) figures.push(errorVsObservationsFigure(summary, finished, axes, depths));
  if (axes.includes("depth") && finished.length > 0) figures.push(eranksVsDepthFigure(summary, finished, axes, depths));
  const growth = growthGroups(finished, axes);
  if (growth.length > 0) figures.push(growthLawFigure(growth, depths), growthPrefactorFigure(growth));
  else if (finished.length > 0) notes.push("Growth-law fit: needs runs with a growth trace (trace_every, optimizer gd); none here.");
  const numeric = axes.filter((a) => new Set(data.runs.map((r) => JSON.stringify(r.point[a]))).size >= 2);
  for (let i = 0, pairs = 0; i < numeric.length && pairs < 3; i++) {
    for (let j = i + 1; j < numeric.length && pairs < 3; j++, pairs++) figures.push(heatmapFigure(summary, numeric[i], numeric[j]));
  }
  if (finished.length > 0) figures.push(parallelCoordinatesFigure(finished, axes, depths));
  if (data.runs.length > 0) figures.push(runtimeFigure(data.runs));
  const claims = await evaluateClaims(data, axes, (runIds, topK) => loadNorms(store, sweepId, runIds, topK));
  return { content: { data, axes, summary, growth, claims, representative, notes }, figures };
}

/** Writes DIR's report: one self-contained HTML file, and SVG/PNG/CSV files for every figure. */
export async function writeReport(dir: string, options: ReportOptions = {}): Promise<{ html: string; content: ReportContent }> {
  const out = options.out ?? join(dir, "report.html");
  const figuresDir = options.figures ?? join(dirname(out), "figures");
  const store = await openForReading(dir);
  try {
    const { content, figures } = await selectFigures(store, options.sweep, options.at);
    makeDirectories(figuresDir);
    const rendered: RenderedFigure[] = [];
    for (const f of figures) {
      const svg = await toSvg(f);
      const files = [`${f.id}.svg`, `${f.id}.png`, `${f.id}.csv`].map((name) => join(figuresDir, name));
      writeFileSync(files[0], svg);
      writeFileSync(files[1], toPng(svg));
      writeFileSync(files[2], toCsv(f.rows));
      rendered.push({ id: f.id, title: f.title, caption: f.caption, svg, files: files.map((file) => relative(dirname(out), file)) });
    }
    const full: ReportContent = { ...content, figures: rendered };
    makeDirectories(dirname(out));
    writeFileSync(out, reportHtml(full));
    return { html: out, content: full };
  } finally {
    await store.close();
  }
}
