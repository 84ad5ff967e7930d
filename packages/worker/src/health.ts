// The worker's /healthz and /metrics endpoints.
import { createServer, type Server } from "node:http";

/** Counters a worker exports; `running` is a gauge, the rest are counters. */
export type WorkerCounters = { started: number; ok: number; diverged: number; failed: number; retried: number; deadLettered: number; running: number };

/** Prometheus names are snake_case: `deadLettered` → `dead_lettered`. */
const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const text = (body: string) => ({ "content-type": "text/plain", "content-length": Buffer.byteLength(body) });

/**
 * On `host:port` (port 0 picks a free one; loopback by default, a pod sets 0.0.0.0):
 * - /healthz, the liveness: 200 while pulling, 503 when draining. A NATS outage is not the
 *   worker's fault: restarting it would only lose its running trainings;
 * - /readyz, the readiness: 200 only while pulling and connected to NATS (`natsUp`);
 * - /metrics in Prometheus text format: the counters, `running` and `nats_connected` gauges.
 */
export function serveHealth(host: string, port: number, counters: WorkerCounters, signal: AbortSignal, natsUp: () => boolean): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === "/healthz") {
      const body = signal.aborted ? "draining\n" : "ok\n";
      res.writeHead(signal.aborted ? 503 : 200, text(body)).end(body);
      return;
    }
    if (req.url === "/readyz") {
      const body = signal.aborted ? "draining\n" : natsUp() ? "ok\n" : "not connected to NATS\n";
      res.writeHead(body === "ok\n" ? 200 : 503, text(body)).end(body);
      return;
    }
    if (req.url === "/metrics") {
      const counterLines = Object.entries(counters).map(([k, v]) => {
        const name = `dtf_worker_${snakeCase(k)}`;
        return k === "running" ? `# TYPE ${name} gauge\n${name} ${v}` : `# TYPE ${name} counter\n${name}_total ${v}`;
      });
      const lines = [...counterLines, `# TYPE dtf_worker_nats_connected gauge\ndtf_worker_nats_connected ${natsUp() ? 1 : 0}`];
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
