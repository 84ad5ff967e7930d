// @dtf/store's public entry.
export { makeDirectories } from "./directories.ts";
export { openForReading, serveSnapshots } from "./readers.ts";
export { EXPORT_TABLES, SCHEMA_VERSION } from "./schema.ts";
export type { Conflict, StoredRun, StoreOptions } from "./store.ts";
export { DEFAULT_COMMIT_DELAY_MS, ResultStore, STORE_FILE, StagingDiscardedError, StoreError, StoreLockedError } from "./store.ts";
