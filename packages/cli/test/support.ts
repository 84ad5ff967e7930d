import { type ChildProcess, execFile, spawn } from "node:child_process";

export const bin = new URL("../bin/dtf.mjs", import.meta.url).pathname;

/** Runs the real `dtf` command in a child process to completion. */
export function dtf(args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Starts `dtf` and resolves once its stdout has printed `lines` lines matching `pattern`. */
export function startUntil(args: string[], pattern: RegExp, lines: number): Promise<{ child: ChildProcess; seen: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let seen = "";
    child.stdout!.on("data", (d: Buffer) => {
      seen += d.toString();
      if (seen.split("\n").filter((l) => pattern.test(l)).length >= lines) resolve({ child, seen });
    });
    child.on("exit", (code) => reject(new Error(`dtf exited (${code}) before printing ${lines} lines: ${seen}`)));
  });
}

/** Resolves with the exit code (or signal) once the child ends. */
export const exited = (child: ChildProcess) =>
  new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal ?? -1)));
