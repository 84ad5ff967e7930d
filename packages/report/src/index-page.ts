// The index page of dtf reproduce: every sweep's verdicts.
import { writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { makeDirectories } from "@dtf/store";
import type { Claim } from "./claims.ts";
import { esc, STYLE } from "./html.ts";

/** One sweep of a reproduction: the figure it serves, its report and the claims it checked. */
export type ReproducedSweep = { figure: string; name: string; sweepId: string; report: string; runs: number; claims: Claim[] };

/** The index of `dtf reproduce`: every figure, its sweeps and every verdict, linking each report. */
export function writeReproductionIndex(out: string, title: string, sweeps: ReproducedSweep[]): string {
  const rows = sweeps.flatMap((s) => {
    const link = `<a href="${esc(s.report)}">${esc(s.name)}</a>`;
    if (s.claims.length === 0) return [[esc(s.figure), link, String(s.runs), "–", "no claim applies", ""]];
    return s.claims.map((c) => [
      esc(s.figure),
      link,
      String(s.runs),
      `<span class="verdict ${esc(c.verdict.replaceAll(" ", "-"))}">${esc(c.verdict)}</span>`,
      `<b>${esc(c.figure)}</b> ${esc(c.claim)}`,
      `${c.measured.map((m) => esc(m)).join("<br>")}<br><i>${esc(c.why)}</i>`,
    ]);
  });
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE} td{text-align:left;vertical-align:top}</style></head>
<body><h1>${esc(title)}</h1>
<p class="meta">One report per sweep; each verdict is computed from the stored runs by the rule the report's Claims section states.</p>
<table><thead><tr><th>figure</th><th>sweep</th><th>runs</th><th>verdict</th><th>claim</th><th>measured</th></tr></thead>
<tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("\n")}</tbody></table>
</body></html>
`;
  makeDirectories(dirname(out));
  writeFileSync(out, html);
  return out;
}
