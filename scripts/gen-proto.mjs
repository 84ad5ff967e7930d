#!/usr/bin/env node
// Generates packages/protocol/src/gen/dtf.js (static protobufjs code, ES module) and dtf.d.ts from
// proto/dtf/v1/*.proto. Field names keep the .proto's snake_case (--keep-case) so messages carry the
// engine's own key names; 64-bit fields decode as numbers (--force-number; seeds stay < 2^53).
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const protoDir = join(root, "proto");
const files = readdirSync(join(protoDir, "dtf", "v1"))
  .filter((f) => f.endsWith(".proto"))
  .sort()
  .map((f) => join(protoDir, "dtf", "v1", f));
const out = join(root, "packages", "protocol", "src", "gen");
mkdirSync(out, { recursive: true });
const bin = (name) => join(root, "node_modules", "protobufjs-cli", "bin", name);
execFileSync(
  process.execPath,
  [bin("pbjs"), "-t", "static-module", "-w", "es6", "--keep-case", "--force-number", "--no-beautify", "-p", protoDir, "-o", join(out, "dtf.js"), ...files],
  { stdio: "inherit" },
);
execFileSync(process.execPath, [bin("pbts"), "-o", join(out, "dtf.d.ts"), join(out, "dtf.js")], { stdio: "inherit" });
console.log(`gen-proto: ${out}/dtf.js, dtf.d.ts`);
