export { EXPORT_TABLES, SCHEMA_VERSION } from "./schema.ts";
export type { StoreOptions } from "./store.ts";
export { ResultStore, STORE_FILE, StoreError } from "./store.ts";
