// Readers of a store another process writes: snapshots served by the writer.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ResultStore, StoreError, StoreLockedError } from "./store.ts";

/** Where the process writing a store says how to reach it (removed when it stops). */
const WRITER_FILE = ".writer.json";
const SNAPSHOT_DIR = "snapshot";

type WriterRecord = { pid: number; socket: string };

/** A Unix socket path for `dir` (socket paths are limited to ~107 bytes: long ones go to the temp dir). */
function socketPath(dir: string): string {
  const near = join(resolve(dir), ".writer.sock");
  if (Buffer.byteLength(near) < 100) return near;
  return join(tmpdir(), `dtf-${createHash("sha256").update(resolve(dir)).digest("hex").slice(0, 16)}.sock`);
}

/**
 * Lets readers look at a store while this process writes it (DuckDB allows one writer and no
 * reader beside it): answers each request on a Unix socket beside the store with a fresh,
 * consistent snapshot (`DIR/snapshot/results.duckdb`). `dtf report` and `dtf export` use it when
 * they find the store locked. Returns a function that stops serving.
 */
export async function serveSnapshots(store: ResultStore): Promise<() => Promise<void>> {
  const path = socketPath(store.dir);
  rmSync(path, { force: true }); // left by a writer that was killed
  let busy: Promise<unknown> = Promise.resolve();
  const server: Server = createServer((socket) => {
    socket.once("data", () => {
      const made = busy.then(() => store.snapshot(join(store.dir, SNAPSHOT_DIR)));
      busy = made.catch(() => undefined);
      made.then(
        (file) => socket.end(`${JSON.stringify({ file })}\n`),
        (err: Error) => socket.end(`${JSON.stringify({ error: err.message })}\n`),
      );
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((res, rej) => server.once("error", rej).listen(path, () => res()));
  const record: WriterRecord = { pid: process.pid, socket: path };
  writeFileSync(join(store.dir, WRITER_FILE), JSON.stringify(record));
  return async () => {
    await new Promise<void>((res) => server.close(() => res()));
    rmSync(join(store.dir, WRITER_FILE), { force: true });
    rmSync(path, { force: true });
  };
}

/** Asks the process writing `dir` for a snapshot; resolves with the snapshot's directory. */
function requestSnapshot(dir: string): Promise<string> {
  const file = join(dir, WRITER_FILE);
  if (!existsSync(file)) throw new StoreError(`the result store in ${dir} is locked by another process that serves no snapshots`);
  const { pid, socket } = JSON.parse(readFileSync(file, "utf8")) as WriterRecord;
  return new Promise((res, rej) => {
    let reply = "";
    const c = connect(socket, () => c.write("snapshot\n"));
    c.setTimeout(60_000, () => c.destroy(new Error("no answer within 60 s")));
    c.on("data", (d) => {
      reply += d.toString();
    });
    c.on("end", () => {
      try {
        const r = JSON.parse(reply) as { file?: string; error?: string };
        if (r.error || !r.file) rej(new StoreError(`the process writing ${dir} (pid ${pid}) could not make a snapshot: ${r.error}`));
        else res(join(dir, SNAPSHOT_DIR));
      } catch {
        rej(new StoreError(`the process writing ${dir} (pid ${pid}) sent no snapshot`));
      }
    });
    c.on("error", (err) => rej(new StoreError(`the result store in ${dir} is locked by process ${pid}, which does not answer (${err.message})`)));
  });
}

/**
 * Opens a store to read it: the store itself when no other process writes it, else a consistent
 * snapshot made on request by the process that does (an aggregator or `dtf run`).
 */
export async function openForReading(dir: string): Promise<ResultStore> {
  try {
    return await ResultStore.open(dir);
  } catch (err) {
    if (!(err instanceof StoreLockedError)) throw err;
    return ResultStore.open(await requestSnapshot(dir), { readOnly: true });
  }
}
