// Whether the compiled build (npm run build) is current: its stamp holds the newest source mtime
// at build time. Plain JavaScript: it runs before any loader is registered.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export const STAMP = ".build-stamp";

/** The newest modification time (ms) of any file under packages/<name>/src. */
export function newestSource(root) {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const name of readdirSync(join(root, "packages"))) {
    try {
      walk(join(root, "packages", name, "src"));
    } catch {
      // a package without sources (an image ships dist only): nothing to compare
    }
  }
  return newest;
}

/** "fresh", "stale" (sources changed since the build) or "absent". */
export function compiledState(root) {
  let stamp;
  try {
    stamp = Number(readFileSync(join(root, "packages", "cli", "dist", STAMP), "utf8"));
  } catch {
    return "absent";
  }
  return newestSource(root) <= stamp ? "fresh" : "stale";
}
