#!/usr/bin/env node
// Compiles every package's TypeScript to JavaScript in packages/<name>/dist (one tsc run, then a
// copy per package, plus the JavaScript that is not compiled: the generated protobuf code and the
// pool thread's entry). The packages' `dtf:compiled` export condition points at it; `dtf` uses it
// when it is newer than every source (else it runs the sources through tsx and says so).
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { newestSource, STAMP } from "../packages/cli/bin/freshness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "build", "tsc");
rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
const packages = readdirSync(join(root, "packages"));
for (const name of packages) {
  const src = join(root, "packages", name, "src");
  const dist = join(root, "packages", name, "dist");
  if (!existsSync(src)) continue;
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  if (existsSync(join(out, name, "src"))) cpSync(join(out, name, "src"), dist, { recursive: true });
  // JavaScript sources (not compiled, used as they are)
  cpSync(src, dist, { recursive: true, filter: (from) => !/\.ts$/.test(from) || /\.d\.ts$/.test(from) });
}
writeFileSync(join(root, "packages", "cli", "dist", STAMP), String(newestSource(root)));
console.log(`build-js: ${packages.length} packages compiled to packages/*/dist`);
