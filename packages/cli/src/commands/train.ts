// dtf train: one training from a spec file and flags, printed as text or JSON lines.
import {
  type MetricPoint,
  type ReplayData,
  RUN_SPEC_FIELDS,
  RUN_SPEC_KEYS,
  resolveRunSpec,
  type TrainResult,
  train,
} from "@dtf/engine";
import { coerce, showHelp } from "../args.ts";
import { EXIT, UsageError } from "../errors.ts";
import { readSpecFile, readUserFile } from "../inputs.ts";
import { parseCommandArgs } from "../options.ts";

export const TRAIN_HELP = `dtf train [SPEC.yaml|json] [--KEY VALUE ...] [--json] [--replay DUMP.json]

Runs one training. Flags override the spec file. Lists are comma-separated (--dim 10,10,20).
  --json           one JSON line per evaluation, then one line with the result
  --replay FILE    take data and initial parameters from a reference --dump_init file
Run-spec keys:
${RUN_SPEC_KEYS.map((k) => {
  const f = RUN_SPEC_FIELDS[k];
  const kind = f.type === "enum" ? f.values.join("|") : f.type;
  return `  --${k.padEnd(15)} ${kind.padEnd(28)} ${f.help}`;
}).join("\n")}`;

/** The fields of the result line, in the order the issue and the docs list them. */
function resultLine(r: TrainResult) {
  return {
    type: "result",
    status: r.status,
    stop_reason: r.stop_reason,
    steps: r.steps,
    train_loss: r.train_loss,
    recon_error: r.recon_error,
    heldout_mse: r.heldout_mse,
    component_norms: r.component_norms,
    gamma: r.gamma,
    cp_erank: r.cp_erank,
    unfolding_eranks: r.unfolding_eranks,
    singular_values: r.singular_values,
    rank_estimate: r.rank_estimate,
    threshold_steps: r.threshold_steps,
    wall_ms: r.wall_ms,
    engine: r.engine,
    spec: r.spec,
  };
}

const fmt = (x: number) => (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toFixed(4) : x.toExponential(3));

function humanLine(p: MetricPoint): string {
  return [
    `step ${String(p.step).padStart(7)}`,
    `train ${fmt(p.train_loss)}`,
    `recon ${fmt(p.recon_error)}`,
    `heldout ${fmt(p.heldout_mse)}`,
    `top ${p.component_norms.slice(0, 5).map(fmt).join(" ")}`,
    `erank ${fmt(p.cp_erank)}`,
  ].join("  ");
}

export async function trainCommand(argv: string[], out: (line: string) => void): Promise<number> {
  const args = parseCommandArgs("train", argv);
  if (args.flags.has("help")) return showHelp(out, TRAIN_HELP);
  if (args.positionals.length > 1) throw new UsageError(`expected at most one spec file, got ${args.positionals.join(" ")}`);
  const file = args.values.spec?.at(-1) ?? args.positionals[0];
  const input: Record<string, unknown> = file ? await readSpecFile(file) : {};
  for (const key of RUN_SPEC_KEYS) {
    const raw = args.values[key];
    if (raw) input[key] = coerce(raw.at(-1)!);
  }
  const spec = resolveRunSpec(input);
  let replay: ReplayData | undefined;
  if (args.values.replay) {
    const path = args.values.replay.at(-1)!;
    const text = await readUserFile(path, "replay file");
    try {
      replay = JSON.parse(text) as ReplayData;
    } catch (err) {
      throw new UsageError(`--replay ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  const json = args.flags.has("json");
  // the raw input: with a replay, the dump fills what the user did not set (engine replaySpecInput)
  const result = await train(replay ? input : spec, {
    replay,
    onMetrics: (p) => out(json ? JSON.stringify({ type: "metrics", ...p }) : humanLine(p)),
  });
  if (json) out(JSON.stringify(resultLine(result)));
  else {
    out(
      `${result.status} (${result.stop_reason}) after ${result.steps} steps in ${(result.wall_ms / 1000).toFixed(2)} s on engine ${result.engine}: ` +
        `recon ${fmt(result.recon_error)}, held-out MSE ${fmt(result.heldout_mse)}, CP erank ${fmt(result.cp_erank)}, ` +
        `unfolding eranks [${result.unfolding_eranks.map(fmt).join(", ")}], rank estimate ${result.rank_estimate}`,
    );
  }
  return result.status === "ok" ? EXIT.ok : EXIT.failed;
}
