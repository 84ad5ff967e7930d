// Runs the real `dtf` command in child processes (through the test kit: bounded, never left running).
import type { ChildProcess } from "node:child_process";
import { exited, type Finished, runToEnd, spawnTracked } from "../../../test/kit/processes.ts";

export const bin = new URL("../bin/dtf.mjs", import.meta.url).pathname;
export { exited };

/** Runs `dtf ARGS` to completion (killed, with code 124, after `timeoutMs`). */
export function dtf(args: string[], cwd?: string, timeoutMs = 240_000): Promise<Finished> {
  return runToEnd(process.execPath, [bin, ...args], { cwd, timeoutMs });
}

/** Starts `dtf` and resolves once its stdout has printed `lines` lines matching `pattern` (rejects after `timeoutMs`). */
export function startUntil(args: string[], pattern: RegExp, lines: number, timeoutMs = 120_000): Promise<{ child: ChildProcess; seen: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(process.execPath, [bin, ...args]);
    const timer = setTimeout(() => reject(new Error(`dtf printed fewer than ${lines} matching lines in ${timeoutMs} ms: ${child.log()}`)), timeoutMs);
    child.stdout!.on("data", () => {
      if (child.log().split("\n").filter((l) => pattern.test(l)).length >= lines) {
        clearTimeout(timer);
        resolve({ child, seen: child.log() });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`dtf exited (${code}) before printing ${lines} lines: ${child.log()}`));
    });
  });
}
