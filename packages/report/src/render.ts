// Figures rendered offline: Vega-Lite → SVG, PNG and CSV.
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile } from "vega-lite";
import type { Figure } from "./figures.ts";

/** Vega-Lite → Vega → SVG text, offline (no browser, no canvas). */
export async function toSvg(figure: Figure): Promise<string> {
  const view = new vega.View(vega.parse(compile(figure.spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG → PNG at twice the size, for papers and slides (system fonts, DejaVu). */
export function toPng(svg: string): Buffer {
  return new Resvg(svg, { fitTo: { mode: "zoom", value: 2 }, background: "white", font: { loadSystemFonts: true } })
    .render()
    .asPng();
}

/** The figure's rows as CSV (columns: the union of the rows' keys, in first-seen order). */
export function toCsv(rows: Record<string, unknown>[]): string {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => {
    if (v === null || v === undefined) return "";
    const text = typeof v === "string" ? v : JSON.stringify(v);
    return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [columns.join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
}
