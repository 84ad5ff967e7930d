// A spec file parsed with positions, so issues can name the line.
import { DtfError } from "@dtf/engine";
import { LineCounter, parseDocument } from "yaml";

/**
 * A parsed spec file that can say where a path (`grid.depth[2]`) is in the text, so validation
 * messages point at the line to fix.
 */
export type SpecSource = { data: unknown; file: string; locate(path: (string | number)[]): string };

export class SpecParseError extends DtfError {}

export function parseSpecText(text: string, file: string): SpecSource {
  if (file.endsWith(".json")) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new SpecParseError(`${file}: not valid JSON: ${(err as Error).message}`);
    }
    return { data, file, locate: () => file };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new SpecParseError(`${file}: not valid YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
  }
  let data: unknown;
  try {
    data = doc.toJS(); // throws on alias bombs ("billion laughs") instead of expanding them
  } catch (err) {
    throw new SpecParseError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  return {
    data,
    file,
    locate(path) {
      for (let n = path.length; n > 0; n--) {
        const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
        if (node?.range) return `${file}:${lineCounter.linePos(node.range[0]).line}`;
        // a key without a value node (or a missing key): point at its parent's key instead
      }
      return file;
    },
  };
}
