import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh directory for a bench's stores and sweeps, removed when the process exits. */
export function benchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "dtf-bench-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
