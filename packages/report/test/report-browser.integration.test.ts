/// <reference lib="dom" />
// The report in a real browser (Debian's chromium): integration tier, not in `npm run test:unit`.
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { chromium } from "playwright-core";
import { writeReport } from "../src/index.ts";
import { depthObservationGrid, makeStore } from "./support.ts";

const artifacts = new URL("../../../test-artifacts/", import.meta.url).pathname;
const CHROMIUM = process.env.DTF_CHROMIUM ?? "/usr/bin/chromium";

describe("report in chromium", () => {
  let gridDir: string;
  before(async () => {
    gridDir = await makeStore("grid", depthObservationGrid());
  });

  it("browser - chromium opens the report with no console errors and marks drawn in every figure", async () => {
    const { html, content } = await writeReport(gridDir);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`file://${html}`);
      const marks = await page.evaluate(() =>
        [...document.querySelectorAll("figure")].map((f) => ({
          id: f.id,
          marks: f.querySelectorAll("svg g[class*='mark-'] path, svg g[class*='mark-'] line").length,
          width: f.querySelector("svg")?.getBoundingClientRect().width ?? 0,
        })),
      );
      expect(marks.map((m) => m.id)).to.deep.equal(content.figures.map((f) => f.id));
      for (const m of marks) {
        expect(m.marks, m.id).to.be.greaterThan(0);
        expect(m.width, m.id).to.be.greaterThan(100);
      }
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, "report.png"), fullPage: true });
      expect(statSync(join(artifacts, "report.png")).size).to.be.greaterThan(10_000);
      expect(errors).to.deep.equal([]);
    } finally {
      await browser.close();
    }
  });
});
