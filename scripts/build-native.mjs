#!/usr/bin/env node
// Builds packages/engine/build/dtf_kernels.node from native/kernels.c with the system C compiler
// and Node's own headers: no download, no node-gyp. -ffp-contract=off keeps results bit-identical
// to the TypeScript kernels (no fused multiply-add); DTF_MARCH picks the target CPU (default native;
// set e.g. x86-64-v3 when building an image for other machines).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const engine = join(root, "packages", "engine");
const candidates = [
  process.env.DTF_NODE_HEADERS,
  join(dirname(process.execPath), "..", "include", "node"),
  "/usr/include/node",
].filter(Boolean);
const headers = candidates.find((dir) => existsSync(join(dir, "node_api.h")));
if (!headers) {
  console.error(`build-native: node_api.h not found in ${candidates.join(", ")}; the engine will use its TypeScript kernels`);
  process.exit(process.env.DTF_NATIVE_REQUIRED ? 1 : 0);
}
const cc = process.env.CC || "cc";
const march = process.env.DTF_MARCH || "native";
mkdirSync(join(engine, "build"), { recursive: true });
const out = join(engine, "build", "dtf_kernels.node");
const args = [
  "-O3",
  `-march=${march}`,
  "-ffp-contract=off",
  "-fno-fast-math",
  "-std=c11",
  "-Wall",
  "-Wextra",
  "-Wno-unused-parameter",
  "-shared",
  "-fPIC",
  "-I",
  headers,
  join(engine, "native", "kernels.c"),
  "-o",
  out,
  "-lm",
];
try {
  execFileSync(cc, args, { stdio: "inherit" });
  console.log(`build-native: ${out}`);
} catch (err) {
  console.error(`build-native: ${cc} failed (${err.message}); the engine will use its TypeScript kernels`);
  process.exit(process.env.DTF_NATIVE_REQUIRED ? 1 : 0);
}
