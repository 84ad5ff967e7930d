// The worker's /healthz and /metrics endpoints.
import { createServer, type Server } from "node:http";

/** Counters a worker exports; `running` is a gauge, the rest are counters. */
export type WorkerCounters = { started: number; ok: number; diverged: number; failed: number; retried: number; deadLettered: number; running: number };

/**
 * /healthz (200 while pulling, 503 when draining) and /metrics in Prometheus text format, on
 * `host:port` (port 0 picks a free one). Loopback by default: a pod sets the host to 0.0.0.0.
 */
export function serveHealth(host: string, port: number, counters: WorkerCounters, signal: AbortSignal): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(signal.aborted ? 503 : 200, { "content-type": "text/plain" }).end(signal.aborted ? "draining\n" : "ok\n");
      return;
    }
    if (req.url === "/metrics") {
      const lines = Object.entries(counters).map(([k, v]) => `# TYPE dtf_worker_${k} ${k === "running" ? "gauge" : "counter"}\ndtf_worker_${k}${k === "running" ? "" : "_total"} ${v}`);
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(`${lines.join("\n")}\n`);
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
