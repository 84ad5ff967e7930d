// The code version recorded with every result.
import { execFileSync } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

/**
 * The code version recorded with every result: DTF_CODE_VERSION when set (container images),
 * else the git commit of the checkout (with `+dirty` for uncommitted changes), else "unknown".
 */
export function codeVersion(): string {
  if (cached !== undefined) return cached;
  cached = process.env.DTF_CODE_VERSION ?? "";
  if (cached) return cached;
  try {
    const cwd = dirname(fileURLToPath(import.meta.url));
    const head = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    cached = dirty ? `${head}+dirty` : head;
  } catch {
    cached = "unknown";
  }
  return cached;
}
