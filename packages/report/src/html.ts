// The report page: one self-contained HTML file.
import type { GroupSummary, Stat } from "./analysis.ts";
import type { Claim } from "./claims.ts";
import type { ReportData, RunRow } from "./data.ts";
import { fmt } from "./format.ts";
import type { GrowthGroup } from "./growth.ts";

export { fmt };

export const esc = (s: unknown) =>
  String(s).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");


export const fmtStat = (s: Stat) => (s ? (s.n > 1 ? `${fmt(s.mean)} ± ${fmt(s.std)}` : fmt(s.mean)) : "–");

export type RenderedFigure = { id: string; title: string; caption: string; svg: string; files: string[] };

export type ReportContent = {
  data: ReportData;
  axes: string[];
  summary: GroupSummary[];
  figures: RenderedFigure[];
  growth: GrowthGroup[];
  claims: Claim[];
  /** The grid point of the panels that show one run per depth. */
  representative: Record<string, unknown>;
  notes: string[];
};

function table(head: string[], rows: string[][], cls = ""): string {
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`;
}

function summaryTable(c: ReportContent): string {
  const thresholds = [...new Set(c.summary.flatMap((g) => Object.keys(g.thresholds)))].sort((a, b) => Number(b) - Number(a));
  const head = [...c.axes, "runs", "status", "final recon error", "held-out MSE", "unfolding erank", "CP erank", ...thresholds.map((t) => `steps to < ${t}`)];
  const rows = c.summary.map((g) => [
    ...c.axes.map((a) => esc(JSON.stringify(g.point[a]))),
    String(g.runs),
    esc(Object.entries(g.statuses).map(([s, n]) => `${n} ${s}`).join(", ")),
    fmtStat(g.recon),
    fmtStat(g.heldout),
    fmtStat(g.unfoldingErank),
    fmtStat(g.cpErank),
    ...thresholds.map((t) => {
      const th = g.thresholds[t];
      return th ? `${fmtStat(th.steps)} (${th.crossed}/${g.runs})` : "–";
    }),
  ]);
  return table(head, rows, "summary");
}

function failuresTable(runs: RunRow[]): string {
  const bad = runs.filter((r) => r.status !== "ok");
  if (bad.length === 0) return "<p>Every run finished with status ok.</p>";
  return table(
    ["run", "point", "status", "why", "steps", "worker"],
    bad.map((r) => [
      `<code>${esc(r.run_id.slice(0, 12))}</code>`,
      esc(JSON.stringify(r.point)),
      `<span class="status ${esc(r.status)}">${esc(r.status)}</span>`,
      esc(r.error || r.stop_reason || ""),
      String(r.steps ?? "–"),
      esc(r.worker_id ?? ""),
    ]),
    "failures",
  );
}

const ci = (e: { value: number; lo: number; hi: number }) => `${fmt(e.value)} <small>[${fmt(e.lo)}, ${fmt(e.hi)}]</small>`;

function growthTable(growth: GrowthGroup[]): string {
  if (growth.length === 0) return "";
  const sorted = [...growth].sort((a, b) => a.sliceLabel.localeCompare(b.sliceLabel) || a.depth - b.depth);
  return table(
    ["grid point", "depth L", "runs", "exponent a [95 % CI]", "2 − 2/(NL)", "prefactor c [95 % CI]", "NL"],
    sorted.map((g) => [esc(g.sliceLabel || "all"), String(g.depth), String(g.runs.length), ci(g.exponent), fmt(g.theoryExponent), ci(g.prefactor), String(g.order * g.depth)]),
  );
}

function claimsSection(claims: Claim[]): string {
  if (claims.length === 0) return "<p class=\"note\">No claim of the paper applies to this sweep's axes (see docs/results.md for which sweep checks which).</p>";
  return claims
    .map(
      (c) => `<div class="claim" id="claim-${esc(c.id)}"><p><span class="verdict ${esc(c.verdict.replaceAll(" ", "-"))}">${esc(c.verdict)}</span> <b>${esc(c.figure)}</b> ${esc(c.claim)}</p>
<ul>${c.measured.map((m) => `<li>${esc(m)}</li>`).join("")}</ul><p class="why">Why: ${esc(c.why)}</p></div>`,
    )
    .join("\n");
}

export const STYLE = `
body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#555}figure{margin:1.5rem 0;overflow-x:auto}figcaption{color:#444;font-size:.9rem;max-width:900px}
figcaption a{margin-right:.6rem}table{border-collapse:collapse;font-size:.85rem;margin:.8rem 0}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.status.failed{color:#c00}.status.diverged{color:#b58900}
pre{background:#f7f7f7;padding:.8rem;overflow-x:auto;font-size:.8rem}.note{color:#555;font-style:italic}
.counts span{margin-right:1.2rem}.claim{border-left:4px solid #ddd;padding:.1rem .8rem;margin:.8rem 0}
.claim ul{margin:.2rem 0;font-size:.9rem}.why{color:#444;font-size:.9rem;margin:.2rem 0}
.verdict{font-weight:bold;padding:.05rem .4rem;border-radius:3px;color:#fff;background:#888}
.verdict.reproduced{background:#2e7d32}.verdict.partly{background:#b58900}.verdict.not-reproduced{background:#c62828}`;

/** The whole report: one self-contained HTML page (inline SVG figures, inline CSS, no scripts). */
export function reportHtml(c: ReportContent): string {
  const sweep = c.data.sweeps[0];
  const runs = c.data.runs;
  const count = (s: string) => runs.filter((r) => r.status === s).length;
  const engines = [...new Set(runs.map((r) => r.engine).filter(Boolean))].join(", ") || "–";
  const versions = [...new Set([sweep?.code_version, ...runs.map((r) => r.code_version)].filter(Boolean))].join(", ") || "–";
  const title = sweep ? `${sweep.name}` : "dtf sweep";
  const figure = (f: RenderedFigure) =>
    `<figure id="${esc(f.id)}"><h3>${esc(f.title)}</h3>${f.svg}<figcaption>${esc(f.caption)}${
      f.files.length ? `<br>${f.files.map((file) => `<a href="${esc(file)}">${esc(file.split("/").at(-1))}</a>`).join("")}` : ""
    }</figcaption></figure>`;
  const results = c.figures.filter((f) => !["parallel-coordinates", "run-times"].includes(f.id));
  const overview = c.figures.filter((f) => ["parallel-coordinates", "run-times"].includes(f.id));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)} — dtf report</title><style>${STYLE}</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="meta">sweep <code>${esc(sweep?.sweep_id ?? "?")}</code> · swept: ${esc(c.axes.join(", ") || "nothing")} · engine: ${esc(engines)} · code version: ${esc(versions)}</p>
<p class="counts"><span><b>${runs.length}</b>${sweep ? ` of ${sweep.total_runs}` : ""} runs stored</span><span>${count("ok")} ok</span><span>${count("diverged")} diverged</span><span>${count("failed")} failed</span></p>
${c.notes.map((n) => `<p class="note">${esc(n)}</p>`).join("\n")}
<h2>Claims</h2>
${claimsSection(c.claims)}
<h2>Results</h2>
<p class="meta">Panels with one run per depth show the grid point ${esc(JSON.stringify(c.representative))} (<code>dtf report --at KEY=VALUE</code> picks another).</p>
${results.map(figure).join("\n")}
${c.growth.length ? `<h3>Growth-law fits (top component, over seeds)</h3>${growthTable(c.growth)}` : ""}
<h2>Summary (mean ± std over seeds)</h2>
${summaryTable(c)}
<h2>Sweep overview</h2>
${overview.map(figure).join("\n")}
<h3>Failures and divergences</h3>
${failuresTable(runs)}
<h2>Spec</h2>
<pre>${esc(sweep ? JSON.stringify(JSON.parse(sweep.spec_json), null, 2) : "(no sweep record in this store)")}</pre>
</body></html>
`;
}
