// comlink's Node adapter has no exports-map entry nor .d.mts; this is the one typed way in.

import type { MessagePort } from "node:worker_threads";
import type { Endpoint } from "comlink";
// @ts-expect-error -- the .mjs has no declaration file of its own (its .d.ts is for the CJS name)
import adapter from "comlink/dist/esm/node-adapter.mjs";

/** A comlink Endpoint over a worker_threads MessagePort. */
export const nodeEndpoint = adapter as (port: MessagePort) => Endpoint;
