import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = process.env.DTF_NATS_SERVER ?? "/usr/sbin/nats-server";

/** nats-server 2.10 (Debian trixie's), unpacked by scripts/setup.sh beside the system's 2.9. */
export const NATS_210 = fileURLToPath(new URL("../../.tools/nats-server/usr/sbin/nats-server", import.meta.url));

/** A free loopback TCP port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** Which nats-server (default the system's 2.9), with which extra environment, on which port (default a free one). */
export type StartOptions = { binary?: string; env?: Record<string, string>; port?: number };

/** A real nats-server with JetStream (file storage in a fresh directory) on a free loopback port. */
export class NatsServer {
  private child: ChildProcess | null = null;
  readonly storeDir = mkdtempSync(join(tmpdir(), "dtf-nats-"));
  private constructor(
    readonly port: number,
    private readonly config: string | null,
    private readonly binary: string,
    private readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /**
   * `config`: extra server configuration (e.g. an authorization block); `files`: files it includes,
   * by path relative to the configuration file.
   */
  static async start(config: string | null = null, files: Record<string, string> = {}, options: StartOptions = {}): Promise<NatsServer> {
    const { binary = BIN, env = {}, port } = options;
    if (binary.includes("/") && !existsSync(binary)) throw new Error(`no nats-server at ${binary}: run bash scripts/setup.sh`);
    const server = new NatsServer(port ?? (await freePort()), config, binary, env);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(server.storeDir, path)), { recursive: true });
      writeFileSync(join(server.storeDir, path), text);
    }
    await server.restart();
    return server;
  }

  async restart(): Promise<void> {
    const args = ["-js", "-sd", this.storeDir, "-a", "127.0.0.1", "-p", String(this.port)];
    if (this.config) {
      const file = join(this.storeDir, "server.conf");
      writeFileSync(file, this.config);
      args.push("-c", file);
    }
    this.child = spawn(this.binary, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...this.env } });
    await new Promise<void>((resolve, reject) => {
      let log = "";
      const timer = setTimeout(() => reject(new Error(`nats-server did not start: ${log}`)), 10_000);
      this.child!.stderr!.on("data", (d: Buffer) => {
        log += d.toString();
        if (log.includes("Server is ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      this.child!.on("exit", (code) => reject(new Error(`nats-server exited (${code}): ${log}`)));
    });
  }

  /** kill -9: no chance to flush anything. */
  async kill(): Promise<void> {
    return this.stop("SIGKILL");
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill(signal);
    });
    this.child = null;
  }
}
