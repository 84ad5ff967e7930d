// Creating directories in a way that cannot hang the process.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * `mkdir -p` that cannot hang: Node 20's recursive mkdir loops for ever when the kernel answers
 * ENOENT under a parent that exists (e.g. `/proc/x`), and being synchronous it blocks every signal
 * too (`dtf run --out /proc/x` ignored SIGTERM). Creates each missing component in turn; a refusal
 * is thrown as it comes (ENOENT, EACCES, EROFS…).
 */
export function makeDirectories(path: string): void {
  const missing: string[] = [];
  for (let p = resolve(path); !existsSync(p); p = dirname(p)) {
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (err) {
      // made meanwhile by another process: fine if it is a directory
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || !statSync(dir).isDirectory()) throw err;
    }
  }
}
