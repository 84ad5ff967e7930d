// Counts of staged rows and repeated keys, so a commit can merge with a plain INSERT.
import type { Table, Value } from "./schema.ts";

/**
 * What the staging tables hold since they were last emptied, counted as rows are appended: how
 * many rows per table, and whether a key repeats among them. A commit whose staged keys are all
 * distinct merges them with a plain INSERT (no window picking each key's first row) and asks
 * DuckDB no count: together that halves what a small commit costs. When the staging tables'
 * content is no longer known (an append or a commit failed, and their cleanup may have failed
 * too), `count` is null and `distinct` false until a commit empties them again.
 */
export class StagedRows {
  private readonly counts = new Map<string, number>();
  private readonly keys = new Map<string, Set<string>>();
  private readonly repeated = new Set<string>();
  private known = true;

  /** Rows about to be appended to `table`'s staging table. */
  add(table: Table<unknown>, rows: readonly Value[][]): void {
    if (!this.known) return;
    const index = keyIndex(table);
    const keys = this.keys.get(table.name) ?? new Set<string>();
    this.keys.set(table.name, keys);
    for (const row of rows) {
      const key = JSON.stringify(index.map((i) => row[i]));
      if (keys.has(key)) this.repeated.add(table.name);
      else keys.add(key);
    }
    this.counts.set(table.name, (this.counts.get(table.name) ?? 0) + rows.length);
  }

  /** The rows staged in `table`, or null when unknown (count them in DuckDB). */
  count(table: Table<unknown>): number | null {
    return this.known ? (this.counts.get(table.name) ?? 0) : null;
  }

  /** Whether every staged key of `table` is known to be distinct. */
  distinct(table: Table<unknown>): boolean {
    return this.known && !this.repeated.has(table.name);
  }

  /** The staging tables were emptied. */
  cleared(): void {
    this.counts.clear();
    this.keys.clear();
    this.repeated.clear();
    this.known = true;
  }

  /** The staging tables' content is no longer known. */
  lost(): void {
    this.cleared();
    this.known = false;
  }
}

const keyIndexes = new WeakMap<object, number[]>();

/** The positions of `table`'s key columns in its rows. */
function keyIndex(table: Table<unknown>): number[] {
  let index = keyIndexes.get(table);
  if (!index) {
    index = table.key.map((k) => table.columns.findIndex((c) => c.name === k));
    keyIndexes.set(table, index);
  }
  return index;
}
