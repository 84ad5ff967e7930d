// The progress display of a local sweep: one line per finished run, counts and ETA.
import type { RunResult } from "@dtf/protocol";

/** Counts of a sweep in progress. */
export type Tally = { total: number; skipped: number; done: number; running: number; failed: number; diverged: number };

const duration = (ms: number) => {
  if (!Number.isFinite(ms)) return "?";
  const s = Math.round(ms / 1000);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
};

/**
 * Sweep progress: on a TTY one status line rewritten in place (runs done/total, running, failed,
 * diverged, ETA); otherwise one plain log line per finished run, for log files and CI.
 */
export class ProgressDisplay {
  readonly tally: Tally;
  private readonly started = Date.now();
  private lastDraw = 0;

  constructor(
    total: number,
    private readonly tty: boolean,
    private readonly write: (text: string) => void,
    /** Runs beyond this many in flight are queued, not running. */
    private readonly threads = Number.POSITIVE_INFINITY,
  ) {
    this.tally = { total, skipped: 0, done: 0, running: 0, failed: 0, diverged: 0 };
  }

  /** Runs already finished in an earlier invocation. */
  skip(): void {
    this.tally.skipped++;
    this.tally.done++;
  }

  start(): void {
    this.tally.running++;
    this.draw();
  }

  /** A run ended; `cancelled` ones are not counted as done (a resume will run them). */
  finish(result: RunResult, point: Record<string, unknown>): void {
    const t = this.tally;
    t.running--;
    if (result.status === "cancelled") {
      this.draw();
      return;
    }
    t.done++;
    if (result.status === "failed") t.failed++;
    if (result.status === "diverged") t.diverged++;
    if (!this.tty) {
      const axes = Object.entries(point)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(" ");
      const recon = result.final ? `recon ${result.final.recon_error.toPrecision(3)}` : result.error;
      this.write(`[${t.done}/${t.total}] ${result.status.padEnd(8)} ${result.run_id.slice(0, 10)} ${axes}  ${recon}  ${(result.wall_ms / 1000).toFixed(1)} s\n`);
    }
    this.draw(true);
  }

  /** Estimated time left from this invocation's pace. */
  eta(): number {
    const t = this.tally;
    const ranHere = t.done - t.skipped;
    if (ranHere === 0) return Number.POSITIVE_INFINITY;
    return ((Date.now() - this.started) / ranHere) * (t.total - t.done);
  }

  line(): string {
    const t = this.tally;
    const running = Math.min(t.running, this.threads);
    return `runs ${t.done}/${t.total} done · ${running} running · ${t.failed} failed · ${t.diverged} diverged · ETA ${duration(this.eta())}`;
  }

  private draw(force = false): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.write(`\r\x1b[2K${this.line()}`);
  }

  /** Ends the display (a newline after the TTY status line). */
  end(): void {
    if (this.tty) this.write(`\r\x1b[2K${this.line()}\n`);
  }
}
