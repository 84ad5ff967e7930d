// The pool thread's entry: registers tsx (the sources are TypeScript) and exposes the task.
import { register } from "tsx/esm/api";

register();
const { default: runTask } = await import("./task.ts");
export default runTask;
