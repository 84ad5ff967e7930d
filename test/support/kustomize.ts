import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runChecked } from "../kit/processes.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** Debian trixie's kustomize v5, unpacked by scripts/setup.sh (Debian 12's kubectl has v2, which lacks `labels`). */
const KUSTOMIZE = join(root, ".tools", "kustomize", "usr", "bin", "kustomize");

/** The YAML `kustomize build` renders for an overlay of deploy/kubernetes (offline). */
export async function kustomizeBuild(overlay: string): Promise<string> {
  if (!existsSync(KUSTOMIZE)) throw new Error(`no kustomize at ${KUSTOMIZE}: run bash scripts/setup.sh`);
  return (await runChecked(KUSTOMIZE, ["build", join(root, "deploy", "kubernetes", "overlays", overlay)], {})).stdout;
}
