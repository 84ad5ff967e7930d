// The sweep file's shape and a planned run.
import type { RunSpec, RunSpecInput } from "@dtf/engine";

/** A sweep as written in its file. */
export type SweepSpec = {
  /** Human name; part of the sweep id. */
  name: string;
  /** The run-spec keys every run shares. */
  base: RunSpecInput;
  /** Run-spec keys with lists of values: every combination is a grid point (cartesian product). */
  grid: Record<string, unknown[]>;
  /** Groups of keys whose lists are varied together (equal lengths), each group one axis. */
  zip: Record<string, unknown[]>[];
  /** Seeds: a list, or a count n meaning seeds 0..n−1. */
  seeds: number[];
};

/** One run of a sweep: its id (hash of the resolved spec), position, grid values and spec. */
export type PlannedRun = {
  runId: string;
  /** Position in the sweep's deterministic order. */
  index: number;
  /** The values this run takes on the swept axes (grid, zip and seed). */
  point: Record<string, unknown>;
  spec: RunSpec;
};
