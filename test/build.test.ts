import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { expect } from "chai";
import { runChecked } from "./kit/processes.ts";

const run = runChecked;
const root = new URL("../", import.meta.url).pathname;

/**
 * A scratch copy of the checkout (tracked and untracked files; node_modules hard-linked unless
 * `withModules` is false), so a build's dist/ and stamp never touch the tree the other tests run from.
 */
async function scratchCopy(withModules = true): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "dtf-build-"));
  const { stdout } = await run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root });
  for (const file of stdout.split("\0").filter(Boolean)) {
    if (!existsSync(join(root, file))) continue; // deleted in the working tree
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(root, file), join(dir, file));
  }
  if (withModules) await run("cp", ["-al", join(root, "node_modules"), join(dir, "node_modules")]);
  return dir;
}

const TINY = "name: tiny\nbase: { model: cp, order: 3, dim: 5, components: 10, observations: 40, steps: 100, eval_every: 50 }\ngrid: { depth: [1, 2] }\n";

describe("production build (npm run build)", function () {
  this.timeout(300_000);

  it("build - compiles every package; dtf then runs the JavaScript without tsx, and the sources again once they change", async () => {
    const dir = await scratchCopy();
    try {
      await run("npm", ["run", "build"], { cwd: dir });
      for (const p of ["engine/dist/index.js", "protocol/dist/gen/dtf.js", "worker/dist/thread/entry.mjs", "cli/dist/main.js", "engine/build/dtf_kernels.node"]) {
        expect(existsSync(join(dir, "packages", p)), p).to.equal(true);
      }
      // without tsx nothing TypeScript can load: a sweep that runs proves the compiled path, pool threads included
      rmSync(join(dir, "node_modules", "tsx"), { recursive: true });
      const spec = join(dir, "tiny.yaml");
      writeFileSync(spec, TINY);
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

  it("install path - deploy/docker/install.sh (the image's build) leaves production dependencies, compiled JS and native kernels, and runs as a non-root user", async function () {
    if (process.getuid?.() !== 0) this.skip(); // switching to another user needs root
    const dir = await scratchCopy(false);
    try {
      await run("bash", [join(dir, "deploy", "docker", "install.sh"), dir], {});
      expect(existsSync(join(dir, "packages", "engine", "src")), "sources removed").to.equal(false);
      expect(existsSync(join(dir, "node_modules", "typescript")), "development dependencies pruned").to.equal(false);
      expect(existsSync(join(dir, "node_modules", "tsx")), "tsx is a development dependency").to.equal(false);
      expect(existsSync(join(dir, "packages", "engine", "build", "dtf_kernels.node"))).to.equal(true);
      await run("chmod", ["-R", "a+rX", dir]);
      const out = mkdtempSync(join(tmpdir(), "dtf-install-out-"));
      await run("chmod", ["777", out]);
      writeFileSync(join(out, "tiny.yaml"), TINY);
      const asNobody = (args: string[]) =>
        run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/tmp", "DTF_CODE_VERSION=test", process.execPath, join(dir, "packages", "cli", "bin", "dtf.mjs"), ...args], {
          cwd: out,
        });
      expect((await asNobody(["worker", "--help"])).stdout).to.contain("dtf worker");
      const ran = await asNobody(["run", join(out, "tiny.yaml"), "--out", join(out, "o"), "--threads", "2"]);
      expect(ran.stdout).to.contain("done: 2/2 runs finished");
      rmSync(out, { recursive: true, force: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
