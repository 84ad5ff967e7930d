// Canonical JSON and the hashes run and sweep ids are made of.
import { createHash } from "node:crypto";

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** First `length` hex digits of the SHA-256 of the canonical JSON of `value`. */
export function hashOf(value: unknown, length = 20): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, length);
}
