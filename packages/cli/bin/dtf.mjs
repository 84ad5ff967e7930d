#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader (no build step for the CLI).
import { register } from "tsx/esm/api";

register();
// A closed pipe (`dtf plan … | head`) ends the output, not the process with a stack trace.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
const { main } = await import("../src/main.ts");
process.exitCode = await main(process.argv.slice(2));
