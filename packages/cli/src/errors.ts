// The CLI's exit codes and its usage error.
import { DtfError } from "@dtf/engine";

/** A command line that cannot be used; the CLI prints it and exits with code 2. */
export class UsageError extends DtfError {}

/** Exit codes: 0 ok, 1 the work failed, 2 bad usage or spec. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
