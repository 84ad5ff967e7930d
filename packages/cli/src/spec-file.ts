import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { UsageError } from "./errors.ts";

/** Reads a YAML or JSON file into a plain object; errors name the file and the problem. */
export async function readSpecFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read spec file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  try {
    data = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new UsageError(`${path} is not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new UsageError(`${path} must hold a mapping of run-spec keys, got ${Array.isArray(data) ? "a list" : typeof data}`);
  }
  return data as Record<string, unknown>;
}
