// The aggregator's commit loop: messages are acked only after the commit that holds their rows,
// and a finished run's done marker is written only after that commit too.
import type { RunResult } from "@dtf/protocol";
import type { ResultStore, StoredRun } from "@dtf/store";
import type { JsMsg } from "@nats-io/jetstream";

export type CommitEvents = {
  /** After a commit, for each finished or failed run it holds: write its outcome markers (a failure holds the messages back). */
  markDone(result: RunResult): Promise<void>;
  /** After a commit: a run whose repeated steps came with other values (the first values were kept). */
  conflict(c: { sweep_id: string; run_id: string; table: string }): Promise<void>;
  committed(): void;
  failed(handedBack: number, why: string, firstOfItsKind: boolean): void;
  markersFailed(why: string): void;
};

/**
 * Staged messages and results between two commits, and the commits themselves: one at a time,
 * every `everyMs` and on request. A failed commit (e.g. a full disk) discards what was staged, so
 * every message whose rows were staged goes back for redelivery; `failures` counts them so that a
 * message staged while one failed can tell (its rows may be gone).
 */
export class CommitLoop {
  private received: JsMsg[] = [];
  private finished: RunResult[] = [];
  /** Results staged since the last commit, by sweep/run: a second one in the same commit is checked against it. */
  private staged = new Map<string, StoredRun>();
  private committing: Promise<void> = Promise.resolve();
  private lastFailure = "";
  private readonly timer: NodeJS.Timeout;
  failures = 0;

  constructor(
    private readonly store: ResultStore,
    private readonly events: CommitEvents,
    everyMs: number,
    /** How long a handed-back message waits before it is delivered again. */
    private readonly retryDelayMs: number,
  ) {
    this.timer = setInterval(() => void this.commit().catch(() => undefined), everyMs);
  }

  /**
   * A message whose rows are staged, and its finished result (its done marker follows the commit):
   * together, with no await between, so a commit takes a message and its marker or neither.
   */
  hold(m: JsMsg, finished: RunResult | null): void {
    this.received.push(m);
    if (finished) this.finished.push(finished);
  }

  /** A message acked with the next commit that stores nothing of it (e.g. another sweep's). */
  pass(m: JsMsg): void {
    this.received.push(m);
  }

  stagedRun(key: string): StoredRun | undefined {
    return this.staged.get(key);
  }

  noteStaged(key: string, run: StoredRun): void {
    this.staged.set(key, run);
  }

  commit(): Promise<void> {
    const run = this.committing.then(() => this.commitNow());
    this.committing = run.catch(() => undefined); // one failed commit must not stop the later ones
    return run;
  }

  /** Stops the timer and commits what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.commit().catch(() => undefined);
  }

  private async commitNow(): Promise<void> {
    const msgs = this.received;
    const results = this.finished;
    this.received = [];
    this.finished = [];
    this.staged = new Map();
    if (msgs.length === 0 && results.length === 0) return;
    try {
      await this.store.commit();
    } catch (err) {
      // the store discarded what was staged: every message whose rows were staged goes back for
      // redelivery (and is staged again), including those staged while this commit ran
      this.failures++;
      const handedBack = [...msgs, ...this.received];
      this.received = [];
      this.finished = []; // their done markers come back with them
      for (const m of handedBack) m.nak(this.retryDelayMs);
      const why = (err as Error).message;
      this.events.failed(handedBack.length, why, why !== this.lastFailure);
      this.lastFailure = why;
      throw err;
    }
    this.lastFailure = "";
    this.events.committed();
    for (const c of this.store.takeConflicts()) await this.events.conflict(c);
    try {
      for (const r of results) await this.events.markDone(r);
    } catch (err) {
      // the rows are committed; hold the messages and retry the markers with the next commit
      this.received = [...msgs, ...this.received];
      this.finished = [...results, ...this.finished];
      this.events.markersFailed((err as Error).message);
      throw err;
    }
    for (const m of msgs) m.ack();
  }
}
