// The engine's errors: DtfError (every deliberate error's base), SpecError with its issues, ArgumentError.
/** Base class of every error dtf raises on purpose; `name` is the subclass name, `cause` is passed through. */
export class DtfError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One problem found in a spec: where (`path`, e.g. `dim[2]`) and what is wrong with it. */
export type SpecIssue = { path: string; message: string };

/** A run or sweep spec that cannot be used; lists every issue found, not just the first. */
export class SpecError extends DtfError {
  readonly issues: SpecIssue[];
  constructor(issues: SpecIssue[], options?: ErrorOptions) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join("\n"), options);
    this.issues = issues;
  }
  static format(path: string, message: string): SpecError {
    return new SpecError([{ path, message }]);
  }
}

/** An argument passed to an engine function that does not fit (wrong shape, size, mode). */
export class ArgumentError extends DtfError {
  static format(argument: string, fn: string, message: string): ArgumentError {
    return new ArgumentError(`Argument '${argument}' passed to '${fn}' ${message}`);
  }
}

