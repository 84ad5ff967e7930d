// The pool thread's entry. Compiled (this file copied into dist/ by npm run build): resolve @dtf/*
// to dist/ and load task.js. From the sources: register tsx and load task.ts.
import { register } from "node:module";

const compiled = import.meta.url.includes("/dist/thread/");
if (compiled) register("./compiled-hook.mjs", import.meta.url);
else (await import("tsx/esm/api")).register();
const { default: runTask } = await import(compiled ? "./task.js" : "./task.ts");
export default runTask;
