#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader (no build step for the CLI).
import { register } from "tsx/esm/api";

register();
// A closed pipe (`dtf plan … | head`) ends the output, not the process with a stack trace.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
const { main, describeFailure } = await import("../src/main.ts");
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
