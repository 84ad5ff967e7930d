import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";

const run = promisify(execFile);
const root = new URL("../", import.meta.url).pathname;

/**
 * A scratch copy of the checkout (tracked and untracked files, node_modules hard-linked), so the
 * build's dist/ and stamp never touch the tree the other tests run from.
 */
async function scratchCopy(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "dtf-build-"));
  const { stdout } = await run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, maxBuffer: 16 << 20 });
  for (const file of stdout.split("\0").filter(Boolean)) {
    if (!existsSync(join(root, file))) continue; // deleted in the working tree
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(root, file), join(dir, file));
  }
  await run("cp", ["-al", join(root, "node_modules"), join(dir, "node_modules")]);
  return dir;
}

describe("production build (npm run build)", function () {
  this.timeout(300_000);

  it("build - compiles every package; dtf then runs the JavaScript without tsx, and the sources again once they change", async () => {
    const dir = await scratchCopy();
    try {
      await run("npm", ["run", "build"], { cwd: dir, maxBuffer: 16 << 20 });
      for (const p of ["engine/dist/index.js", "protocol/dist/gen/dtf.js", "worker/dist/thread/entry.mjs", "cli/dist/main.js", "engine/build/dtf_kernels.node"]) {
        expect(existsSync(join(dir, "packages", p)), p).to.equal(true);
      }
      // without tsx nothing TypeScript can load: a sweep that runs proves the compiled path, pool threads included
      rmSync(join(dir, "node_modules", "tsx"), { recursive: true });
      const spec = join(dir, "tiny.yaml");
      writeFileSync(spec, "name: tiny\nbase: { model: cp, order: 3, dim: 5, components: 10, observations: 40, steps: 100, eval_every: 50 }\ngrid: { depth: [1, 2] }\n");
      const bin = join(dir, "packages", "cli", "bin", "dtf.mjs");
      const help = await run(process.execPath, [bin, "worker", "--help"], { cwd: dir });
      expect(help.stdout).to.contain("dtf worker");
      const ran = await run(process.execPath, [bin, "run", spec, "--out", join(dir, "out"), "--threads", "2"], { cwd: dir });
      expect(ran.stdout).to.contain("done: 2/2 runs finished");
      // a source newer than the build: dtf runs the sources, which need tsx (absent here)
      const later = new Date(Date.now() + 5_000);
      utimesSync(join(dir, "packages", "engine", "src", "index.ts"), later, later);
      const stale = await run(process.execPath, [bin, "--help"], { cwd: dir }).then(
        () => ({ stderr: "ran" }),
        (err) => err as { stderr: string },
      );
      expect(stale.stderr).to.match(/Cannot find package 'tsx'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
