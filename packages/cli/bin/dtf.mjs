#!/usr/bin/env node
// Runs the compiled JavaScript (npm run build) when it is newer than every source, else the
// TypeScript sources through tsx's loader (development: no build step needed).
import { register } from "node:module";
import { fileURLToPath } from "node:url";
import { compiledState } from "./freshness.mjs";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const state = process.env.DTF_FROM_SOURCES ? "absent" : compiledState(root);
if (state === "fresh") register(import.meta.resolve("@dtf/worker/compiled-hook"));
else {
  // said at a terminal only: scripts and tests that read stderr see what they would without a build
  if (state === "stale" && process.stderr.isTTY) {
    process.stderr.write("dtf: the compiled build is older than the sources; running the sources (npm run build refreshes it)\n");
  }
  (await import("tsx/esm/api")).register();
}
// A closed pipe (`dtf plan … | head`) ends the output, not the process with a stack trace.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
const { main, describeFailure } = await import(state === "fresh" ? "../dist/main.js" : "../src/main.ts");
const { redact } = await import("@dtf/protocol");
// A failure outside a command's own handling (a callback, a stream) is still one line, not a stack.
const fatal = (err) => {
  const [code, message] = describeFailure(err);
  process.stderr.write(`${redact(`dtf: ${message}`)}\n`);
  process.exit(code);
};
process.on("uncaughtException", fatal);
process.on("unhandledRejection", fatal);
process.exitCode = await main(process.argv.slice(2));
