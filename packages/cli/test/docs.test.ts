// Every `dtf …` command line in README.md and docs/*.md is parsed by the real option parser, so a
// renamed command or flag fails here instead of in a reader's terminal.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { COMMAND_OPTIONS, type CommandName, parseCommandArgs } from "../src/options.ts";

const root = new URL("../../../", import.meta.url).pathname;

type DocCommand = { where: string; command: string; argv: string[] };

/**
 * The dtf command lines of a Markdown text: whole lines of fenced blocks and inline code spans, from
 * `dtf` (or `node packages/cli/bin/dtf.mjs`) to a comment, pipe, redirection or the span's end.
 * `[--flag]` usage brackets are read as the flag; kubectl's `-n dtf` namespace is not a command.
 */
export function docCommands(text: string, file: string): DocCommand[] {
  const found: DocCommand[] = [];
  let fenced = false;
  text.split("\n").forEach((line, i) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return;
    }
    const spans = fenced ? [line] : [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    for (const span of spans) {
      for (const m of span.matchAll(/(^|[\s(])(dtf|node packages\/cli\/bin\/dtf\.mjs)\s+([a-z][a-z-]*)(?=\s|$)([^|;&#>]*)/g)) {
        const before = span.slice(0, m.index + m[1].length);
        if (/(^|\s)(-n|--namespace)\s*$/.test(before) || m[3] === "command") continue;
        const argv = m[4].replaceAll(/[[\]\\]/g, " ").trim().split(/\s+/).filter(Boolean);
        found.push({ where: `${file}:${i + 1}`, command: m[3], argv });
      }
    }
  });
  return found;
}

/** The problem with a documented command line, or null. */
function problemWith({ command, argv }: DocCommand): string | null {
  if (!(command in COMMAND_OPTIONS)) return `unknown command 'dtf ${command}'`;
  try {
    parseCommandArgs(command as CommandName, argv);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

describe("docs - every documented dtf command line parses", () => {
  const files = ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

  it("README.md and docs/*.md: each dtf command and its options exist", () => {
    const commands = files.flatMap((f) => docCommands(readFileSync(join(root, f), "utf8"), f));
    expect(commands.length, "command lines found").to.be.greaterThan(50);
    expect(new Set(commands.map((c) => c.command)), "commands covered").to.include.members(["train", "run", "report", "reproduce", "submit", "status", "up"]);
    const problems = commands.flatMap((c) => {
      const p = problemWith(c);
      return p ? [`${c.where}: dtf ${c.command} ${c.argv.join(" ")}: ${p}`] : [];
    });
    expect(problems).to.deep.equal([]);
  });

  it("negative control - a renamed flag, an unknown command, and a flag given a value are caught", () => {
    const doc = "```sh\ndtf run spec.yaml --thread 2\n```\nthen `dtf sumbit x.yaml` and `dtf status ID --json=yes`, not `kubectl -n dtf logs x`\n";
    const problems = docCommands(doc, "doc.md").map((c) => `${c.where} ${problemWith(c)}`);
    expect(problems).to.deep.equal([
      "doc.md:2 unknown option --thread (did you mean --threads?)",
      "doc.md:4 unknown command 'dtf sumbit'",
      "doc.md:4 --json is a flag and takes no value",
    ]);
  });
});

/** The per-role password variables (DTF_NATS_PASSWORD_WORKER, …) are one family, one row. */
const familyOf = (name: string) => name.replace(/^DTF_NATS_PASSWORD_[A-Z]+$/, "DTF_NATS_PASSWORD_");

/** Variables the code reads that the table lacks, and rows no code reads. */
function compareWithTable(readByCode: Iterable<string>, table: string): { missing: string[]; stale: string[] } {
  const read = new Set([...readByCode].map(familyOf));
  const rows = new Set([...table.matchAll(/^\| `(DTF_[A-Z0-9_<>]+)`/gm)].map((m) => m[1].replace("<ROLE>", "")));
  return { missing: [...read].filter((n) => !rows.has(n)), stale: [...rows].filter((n) => !read.has(n)) };
}

describe("docs - every DTF_* environment variable is in docs/configuration.md", () => {
  /** Names that look like variables but are not: the JetStream streams. */
  const STREAMS = new Set(["DTF_JOBS", "DTF_RESULTS", "DTF_DLQ"]);

  it("each one the code reads has a row, and each row is read by some code", async () => {
    const { execFileSync } = await import("node:child_process");
    const code = execFileSync("git", ["grep", "-ohE", "DTF_[A-Z0-9_]+", "--", "packages", "scripts", "deploy", "test", ":!*.md", ":!packages/cli/test/docs.test.ts"], { cwd: root, encoding: "utf8" });
    const read = code.split("\n").filter((n) => n && !STREAMS.has(n));
    expect(compareWithTable(read, readFileSync(join(root, "docs", "configuration.md"), "utf8"))).to.deep.equal({ missing: [], stale: [] });
  });

  it("negative control - a variable missing from the table and a row no code reads are both named", () => {
    const table = "| `DTF_DEBUG` | x | y | z |\n| `DTF_GONE` | x | y | z |\n| `DTF_NATS_PASSWORD_<ROLE>` | x | y | z |\n";
    expect(compareWithTable(["DTF_DEBUG", "DTF_NEW", "DTF_NATS_PASSWORD_WORKER"], table)).to.deep.equal({ missing: ["DTF_NEW"], stale: ["DTF_GONE"] });
  });
});
