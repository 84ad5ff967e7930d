import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONSUMERS, kubernetesAuthConfig, NATS_ENV, STREAMS } from "@dtf/protocol";
import { connect } from "@nats-io/transport-node";
import { expect } from "chai";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import { runToEnd, spawnTracked, until } from "./kit/processes.ts";
import { dtf } from "./support/dtf.ts";
import { kustomizeBuild } from "./support/kustomize.ts";
import { freePort, NATS_210, NatsServer } from "./support/nats-server.ts";
import { allows, type Flow, matches, type NetworkPolicy, type Pod } from "./support/netpol.ts";

const root = new URL("../", import.meta.url).pathname;
const OVERLAYS = ["dev", "prod"] as const;

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; spec?: Record<string, unknown> } & Record<string, unknown>;
type Container = { name: string; image: string; args?: string[]; env?: { name: string }[]; envFrom?: unknown[]; securityContext?: Record<string, unknown> };

/** `kustomize build` of an overlay (offline), as objects. */
async function render(overlay: string): Promise<K8sObject[]> {
  const stdout = await kustomizeBuild(overlay);
  return parseAllDocuments(stdout).map((d) => d.toJS() as K8sObject);
}

/** Where each kind's TypeScript interface lives (kubernetes-models and @kubernetes-models/keda). */
const TYPES: Record<string, [module: string, type: string]> = {
  "v1/Namespace": ["kubernetes-models/v1/Namespace", "INamespace"],
  "v1/ServiceAccount": ["kubernetes-models/v1/ServiceAccount", "IServiceAccount"],
  "v1/ConfigMap": ["kubernetes-models/v1/ConfigMap", "IConfigMap"],
  "v1/Secret": ["kubernetes-models/v1/Secret", "ISecret"],
  "v1/Service": ["kubernetes-models/v1/Service", "IService"],
  "apps/v1/Deployment": ["kubernetes-models/apps/v1/Deployment", "IDeployment"],
  "apps/v1/StatefulSet": ["kubernetes-models/apps/v1/StatefulSet", "IStatefulSet"],
  "batch/v1/Job": ["kubernetes-models/batch/v1/Job", "IJob"],
  "networking.k8s.io/v1/NetworkPolicy": ["kubernetes-models/networking.k8s.io/v1/NetworkPolicy", "INetworkPolicy"],
  "policy/v1/PodDisruptionBudget": ["kubernetes-models/policy/v1/PodDisruptionBudget", "IPodDisruptionBudget"],
  "keda.sh/v1alpha1/ScaledObject": ["@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject", "IScaledObject"],
};

/**
 * Type-checks the objects against the Kubernetes and KEDA interfaces: each object is an object
 * literal assigned to its interface, so TypeScript rejects unknown fields at any depth (excess
 * property checks), missing required fields and wrong types. Returns the diagnostics.
 */
function typeCheck(objects: K8sObject[], name: string): string[] {
  const imports = new Set<string>();
  const lines = objects.map((o, i) => {
    const entry = TYPES[`${o.apiVersion}/${o.kind}`];
    if (!entry) return `// no type for ${o.apiVersion}/${o.kind}\nexport const unknownKind${i}: never = ${JSON.stringify(o.kind)};`;
    imports.add(`import type { ${entry[1]} } from "${entry[0]}";`);
    return `export const o${i}: ${entry[1]} = ${JSON.stringify(o)};`;
  });
  const dir = join(root, "test-artifacts");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `k8s-${name}.ts`);
  writeFileSync(file, `${[...imports].join("\n")}\n${lines.join("\n")}\n`);
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    types: [],
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file ? `${d.file.fileName.split("/").at(-1)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1} ` : ""}${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

const podSpecOf = (o: K8sObject) =>
  (o.spec as { template?: { spec?: { containers: Container[]; securityContext?: Record<string, unknown> } } } | undefined)?.template?.spec;

/** The pods of the rendered workloads (two of each, to see pod-to-pod flows within one) and the policies. */
function networkOf(objects: K8sObject[]): { pods: Pod[]; policies: NetworkPolicy[] } {
  const pods: Pod[] = [];
  for (const o of objects.filter((x) => ["Deployment", "StatefulSet", "Job"].includes(x.kind))) {
    const template = (o.spec as { template: { metadata: { labels: Record<string, string> }; spec: { containers: { ports?: Pod["ports"] }[] } } }).template;
    const ports = template.spec.containers.flatMap((c) => c.ports ?? []);
    for (const i of [0, 1]) pods.push({ name: `${o.metadata.name}-${i}`, namespace: (o.metadata as unknown as { namespace: string }).namespace, labels: template.metadata.labels, ports });
  }
  // what a cluster runs beside dtf and the docs name: kube-dns, the KEDA operator, Prometheus, and anyone else
  pods.push(
    { name: "kube-dns", namespace: "kube-system", labels: { "k8s-app": "kube-dns" }, ports: [{ name: "dns", containerPort: 53, protocol: "UDP" }, { name: "dns-tcp", containerPort: 53 }] },
    { name: "keda-operator", namespace: "keda", labels: { app: "keda-operator" } },
    { name: "prometheus", namespace: "monitoring", labels: { "app.kubernetes.io/name": "prometheus" }, ports: [{ name: "web", containerPort: 9090 }] },
    { name: "stranger", namespace: "default", labels: { app: "stranger" }, ports: [{ name: "http", containerPort: 8080 }] },
  );
  const policies = objects.filter((o) => o.kind === "NetworkPolicy") as unknown as NetworkPolicy[];
  return { pods, policies };
}

/**
 * The flows dtf needs, from the roles' pod labels (`dtf.role`) and NATS's (`app.kubernetes.io/name:
 * nats`): every role → NATS clients (4222) and DNS; NATS → NATS routes (6222) and DNS (route
 * names); KEDA → NATS monitoring (8222); Prometheus → the workers' /metrics (9464).
 */
function needed(f: Flow): boolean {
  const role = (p: Pod) => p.labels["dtf.role"] !== undefined;
  const nats = (p: Pod) => p.labels["app.kubernetes.io/name"] === "nats";
  const dns = f.to.name === "kube-dns" && f.port === 53;
  return (
    ((role(f.from) || nats(f.from)) && dns) ||
    (role(f.from) && nats(f.to) && f.port === 4222 && f.protocol === "TCP") ||
    (nats(f.from) && nats(f.to) && f.port === 6222 && f.protocol === "TCP") ||
    (f.from.name === "keda-operator" && nats(f.to) && f.port === 8222 && f.protocol === "TCP") ||
    (f.from.name === "prometheus" && f.to.labels["dtf.role"] === "worker" && f.port === 9464 && f.protocol === "TCP")
  );
}

/**
 * Every pod to every other, one end at least dtf's, on every port any pod declares (and one nobody
 * does), both protocols: needed but denied, allowed but not needed.
 */
function compareFlows(pods: Pod[], policies: NetworkPolicy[]): { missing: string[]; extra: string[] } {
  const ours = new Set(policies.map((p) => p.metadata.namespace));
  const ports = [...new Set([...pods.flatMap((p) => (p.ports ?? []).map((c) => c.containerPort)), 12345])];
  const missing: string[] = [];
  const extra: string[] = [];
  for (const from of pods) {
    for (const to of pods) {
      if (from === to) continue; // a pod talking to itself is not subject to policies
      if (!ours.has(from.namespace) && !ours.has(to.namespace)) continue; // between other namespaces: not dtf's policies' business
      for (const port of ports) {
        for (const protocol of ["TCP", "UDP"] as const) {
          const f = { from, to, port, protocol };
          const name = `${from.name} → ${to.name} ${port}/${protocol}`;
          const ok = allows(policies, f);
          if (needed(f) && !ok) missing.push(name);
          if (!needed(f) && ok) extra.push(name);
        }
      }
    }
  }
  return { missing, extra };
}

const ROLES = ["submitter", "worker", "aggregator", "reader"] as const;
const NATS_29 = "/usr/sbin/nats-server";

/**
 * The environment Kubernetes gives the NATS container of `objects`: values with `$(VAR)` expanded
 * from the variables before them (`$$` escapes), `secretKeyRef`s of the Secret dtf-nats from
 * `secret`, the pod's name for `fieldRef: metadata.name`.
 */
function natsServerEnv(objects: K8sObject[], secret: Record<string, string>, podName = "nats-0"): Record<string, string> {
  const nats = objects.find((o) => ["Deployment", "StatefulSet"].includes(o.kind) && o.metadata.name === "nats")!;
  type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } };
  const container = podSpecOf(nats)!.containers[0] as unknown as { env: EnvVar[] };
  const env: Record<string, string> = {};
  for (const v of container.env) {
    if (v.value !== undefined) env[v.name] = v.value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) => (m === "$$" ? "$" : (env[name!] ?? m)));
    else if (v.valueFrom?.secretKeyRef?.name === "dtf-nats") env[v.name] = secret[v.valueFrom.secretKeyRef.key];
    else if (v.valueFrom?.fieldRef?.fieldPath === "metadata.name") env[v.name] = podName;
    else throw new Error(`the NATS container's ${v.name} comes from where this test cannot say`);
  }
  return env;
}

/**
 * An overlay's nats.conf as NatsServer.start serves it: its port, monitoring port and store are the
 * test's, it dials no routes, and its pid file goes to a scratch directory.
 */
function asLoopbackServer(conf: string): string {
  return conf
    .replace(/^port:.*$|^http_port:.*$|^jetstream \{[\s\S]*?^\}$|^cluster \{[\s\S]*?^\}$/gm, "")
    .replaceAll("/var/run/nats", mkdtempSync(join(tmpdir(), "dtf-natspid-")));
}

/** `nats-server -t` of a config and its auth include under `env`: "" when valid, else what it says. */
async function checkNatsConfig(binary: string, conf: string, auth: string, env: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "dtf-natsconf-"));
  mkdirSync(join(dir, "auth"));
  writeFileSync(join(dir, "nats.conf"), conf.replace('"/data/jetstream"', JSON.stringify(join(dir, "js"))));
  writeFileSync(join(dir, "auth", "nats-auth.conf"), auth);
  const r = await runToEnd(binary, ["-c", join(dir, "nats.conf"), "-t"], { env: { PATH: process.env.PATH ?? "", ...env }, timeoutMs: 10_000 });
  return r.code === 0 ? "" : `${r.stdout}${r.stderr}`.trim() || `exit ${r.code}`;
}

describe("deploy/kubernetes (offline: kustomize v5, type-checked objects, network policies evaluated)", function () {
  this.timeout(180_000);
  const rendered: Record<string, K8sObject[]> = {};
  before(async () => {
    for (const overlay of OVERLAYS) rendered[overlay] = await render(overlay);
  });

  for (const overlay of OVERLAYS) {
    it(`${overlay} - every object type-checks against its Kubernetes or KEDA interface (unknown fields rejected) and passes its schema validator`, async () => {
      expect(rendered[overlay].length).to.be.greaterThan(10);
      expect(typeCheck(rendered[overlay], overlay)).to.deep.equal([]);
      // and the JSON-schema validators of the same packages (formats, patterns, enums)
      for (const o of rendered[overlay]) {
        const [module] = TYPES[`${o.apiVersion}/${o.kind}`];
        const Model = (await import(module))[o.kind] as new (data: unknown) => { validate(): void };
        expect(() => new Model(o).validate(), `${o.kind} ${o.metadata.name}`).to.not.throw();
      }
    });
  }

  for (const overlay of OVERLAYS) {
    it(`${overlay} - network policies allow every flow dtf needs (DNS, roles → NATS, routes, KEDA, Prometheus) and deny every other`, () => {
      const { pods, policies } = networkOf(rendered[overlay]);
      const { missing, extra } = compareFlows(pods, policies);
      expect({ missing, extra }).to.deep.equal({ missing: [], extra: [] });
    });
  }

  it("network policies - the flow check fails on the policies as they were (selectors carrying a common label the NATS and DNS pods lack)", () => {
    // the negative control: the base's common label put into every selector's matchLabels, as kustomize's `commonLabels` did
    const objects = structuredClone(rendered.prod);
    for (const o of objects.filter((x) => x.kind === "NetworkPolicy")) {
      const spec = o.spec as { podSelector: { matchLabels?: Record<string, string> }; ingress?: { from?: { podSelector?: { matchLabels?: Record<string, string> } }[] }[]; egress?: { to?: { podSelector?: { matchLabels?: Record<string, string> } }[] }[] };
      const label = (sel: { matchLabels?: Record<string, string> } | undefined) => {
        if (sel?.matchLabels) sel.matchLabels = { ...sel.matchLabels, "app.kubernetes.io/part-of": "dtf" };
      };
      label(spec.podSelector);
      for (const rule of [...(spec.ingress ?? []), ...(spec.egress ?? [])]) for (const peer of ("from" in rule ? rule.from : (rule as { to?: [] }).to) ?? []) label(peer.podSelector);
    }
    const { pods, policies } = networkOf(objects);
    const { missing } = compareFlows(pods, policies);
    expect(missing).to.include.members(["dtf-worker-0 → kube-dns 53/UDP", "dtf-worker-0 → nats-0 4222/TCP", "nats-0 → nats-1 6222/TCP", "keda-operator → nats-0 8222/TCP"]);
  });

  it("type check - a misspelt field and a missing required field are caught (the check is not a no-op)", () => {
    const worker = structuredClone(rendered.dev.find((o) => o.kind === "Deployment" && o.metadata.name === "dtf-worker")!);
    const container = podSpecOf(worker)!.containers[0] as Container & { imagePullPolicyy?: string };
    container.imagePullPolicyy = "Always";
    const errors = typeCheck([worker], "negative");
    expect(errors.join("\n")).to.match(/imagePullPolicyy/);
    const noSelector = structuredClone(rendered.dev.find((o) => o.kind === "Deployment")!);
    delete (noSelector.spec as Record<string, unknown>).selector;
    expect(typeCheck([noSelector], "negative2").join("\n")).to.match(/selector/);
  });

  it("containers - every dtf command line is accepted by the real CLI's parser, and sets only variables the CLI reads", async () => {
    const known = new Set<string>(NATS_ENV);
    for (const overlay of OVERLAYS) {
      for (const o of rendered[overlay]) {
        for (const c of podSpecOf(o)?.containers ?? []) {
          if (!c.image.startsWith("dtf")) continue;
          const parsed = await dtf([...(c.args ?? []), "--help"]);
          expect(parsed.code, `${overlay} ${o.metadata.name}: dtf ${c.args?.join(" ")}: ${parsed.stderr}`).to.equal(0);
          for (const e of c.env ?? []) expect(known, `${overlay} ${o.metadata.name} sets ${e.name}`).to.include(e.name);
        }
      }
      const config = rendered[overlay].find((o) => o.kind === "ConfigMap" && o.metadata.name === "dtf-config")!;
      for (const key of Object.keys(config.data as object)) expect(known, `dtf-config sets ${key}`).to.include(key);
    }
  });

  it("security - every pod runs as non-root with a read-only root filesystem, no privilege escalation, no capabilities (restricted)", () => {
    for (const overlay of OVERLAYS) {
      for (const o of rendered[overlay]) {
        const pod = podSpecOf(o);
        if (!pod) continue;
        expect(pod.securityContext, o.metadata.name).to.include({ runAsNonRoot: true });
        expect(pod.securityContext?.seccompProfile, o.metadata.name).to.deep.equal({ type: "RuntimeDefault" });
        for (const c of pod.containers) {
          expect(c.securityContext, `${o.metadata.name}/${c.name}`).to.deep.include({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
        }
      }
    }
  });

  it("worker - one thread per requested CPU, and the pod's grace period outlasts the worker's drain", () => {
    for (const overlay of OVERLAYS) {
      const worker = rendered[overlay].find((o) => o.kind === "Deployment" && o.metadata.name === "dtf-worker")!;
      const pod = podSpecOf(worker) as unknown as { terminationGracePeriodSeconds: number; containers: (Container & { resources: { requests: { cpu: string } } })[] };
      const [c] = pod.containers;
      const flag = (name: string) => c.args![c.args!.indexOf(name) + 1];
      expect(Number(flag("--threads")), "threads = CPU request").to.equal(Number(c.resources.requests.cpu));
      expect(pod.terminationGracePeriodSeconds * 1000).to.be.greaterThan(Number(flag("--grace-ms")));
      expect((worker.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations).to.include({
        "prometheus.io/scrape": "true",
        "prometheus.io/port": flag("--port"),
      });
    }
  });

  it("KEDA - the workers scale from zero on the lag of the consumer and stream dtf creates", () => {
    for (const overlay of OVERLAYS) {
      const so = rendered[overlay].find((o) => o.kind === "ScaledObject")!;
      const spec = so.spec as { scaleTargetRef: { name: string }; minReplicaCount: number; triggers: { type: string; metadata: Record<string, string> }[] };
      expect(spec.scaleTargetRef.name).to.equal("dtf-worker");
      expect(spec.minReplicaCount).to.equal(0);
      expect(spec.triggers[0].type).to.equal("nats-jetstream");
      expect(spec.triggers[0].metadata).to.include({ stream: STREAMS.jobs, consumer: CONSUMERS.workers });
      const namespace = rendered[overlay].find((o) => o.kind === "Namespace")!.metadata.name;
      expect(spec.triggers[0].metadata.natsServerMonitoringEndpoint).to.equal(`nats-monitor.${namespace}.svc.cluster.local:8222`);
      // that Service exists, selects the NATS pods and serves the monitoring port
      const monitor = rendered[overlay].find((o) => o.kind === "Service" && o.metadata.name === "nats-monitor")!;
      const natsLabels = (rendered[overlay].find((o) => o.metadata.name === "nats" && o.kind !== "Service" && podSpecOf(o))!.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
      const service = monitor.spec as { selector: Record<string, string>; ports: { port: number }[] };
      expect(matches({ matchLabels: service.selector }, natsLabels), overlay).to.equal(true);
      expect(service.ports.map((p) => p.port)).to.deep.equal([8222]);
    }
  });

  it("images - every container names a pinned tag (never latest) pulled only when missing; the KEDA-owned Deployment sets no replica count", () => {
    for (const overlay of OVERLAYS) {
      for (const o of rendered[overlay].filter((x) => podSpecOf(x))) {
        for (const c of podSpecOf(o)!.containers as (Container & { imagePullPolicy?: string })[]) {
          const tag = c.image.includes(":") ? c.image.split(":").at(-1) : "";
          expect(tag, `${overlay} ${o.metadata.name}: ${c.image}`).to.match(/^[\w][\w.-]*$/).and.not.equal("latest");
          expect(c.imagePullPolicy, `${overlay} ${o.metadata.name}`).to.equal("IfNotPresent");
        }
      }
      const worker = rendered[overlay].find((o) => o.kind === "Deployment" && o.metadata.name === "dtf-worker")!;
      expect(worker.spec, `${overlay}: replicas would reset KEDA's count on every apply`).to.not.have.property("replicas");
    }
  });

  it("sweep ConfigMap - prod renders none (applying never replaces the user's sweep); dev renders its example", () => {
    const sweepMap = (overlay: (typeof OVERLAYS)[number]) => rendered[overlay].find((o) => o.kind === "ConfigMap" && o.metadata.name === "dtf-sweep");
    expect(sweepMap("prod")).to.equal(undefined);
    expect((sweepMap("dev")!.data as Record<string, string>)["sweep.yaml"]).to.contain("name: k8s-depth-vs-observations");
    const job = rendered.prod.find((o) => o.kind === "Job")!;
    expect(JSON.stringify((podSpecOf(job) as { volumes?: unknown }).volumes)).to.contain('"name":"dtf-sweep"');
  });

  it("NATS in prod - a disruption budget of one server, JetStream bounded below the volume and memory, GOMEMLIMIT below the limit", () => {
    const objects = rendered.prod;
    const pdb = objects.find((o) => o.kind === "PodDisruptionBudget")!;
    const nats = objects.find((o) => o.kind === "StatefulSet" && o.metadata.name === "nats")!;
    const sts = nats.spec as { replicas: number; template: { metadata: { labels: Record<string, string> } }; volumeClaimTemplates: { spec: { resources: { requests: { storage: string } } } }[] };
    expect(pdb.spec).to.include({ maxUnavailable: 1 });
    expect(matches((pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector, sts.template.metadata.labels), "the budget covers the NATS pods").to.equal(true);
    const conf = (objects.find((o) => o.metadata.name === "nats-config")!.data as Record<string, string>)["nats.conf"];
    const size = (text: string) => {
      const [, n, unit] = /^"?(\d+)\s*(GB|MB|Gi|Mi|GiB|MiB)?"?$/.exec(text.trim())!;
      return Number(n) * ({ GB: 1e9, MB: 1e6, Gi: 2 ** 30, Mi: 2 ** 20, GiB: 2 ** 30, MiB: 2 ** 20 } as Record<string, number>)[unit ?? ""];
    };
    const setting = (key: string) => new RegExp(`^\\s*${key}:\\s*(.+)$`, "m").exec(conf)?.[1] ?? "";
    const container = podSpecOf(nats)!.containers[0] as unknown as { env: { name: string; value?: string }[]; resources: { limits: { memory: string } } };
    expect(size(setting("max_file_store")), "file store under the volume").to.be.below(size(sts.volumeClaimTemplates[0].spec.resources.requests.storage));
    expect(size(setting("max_memory_store"))).to.be.below(size(container.resources.limits.memory));
    const gomemlimit = container.env.find((e) => e.name === "GOMEMLIMIT")?.value ?? "";
    expect(size(gomemlimit), "GOMEMLIMIT under the memory limit").to.be.below(size(container.resources.limits.memory));
    const seconds = (key: string) => Number(setting(key).replaceAll('"', "").replace(/s$/, ""));
    const grace = (podSpecOf(nats) as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds ?? 30;
    expect(seconds("lame_duck_duration") + seconds("lame_duck_grace_period"), "lame duck within the pod's grace period").to.be.below(grace);
  });

  it("NATS in prod, run - the probes' paths answer 200 on the prod config, and the preStop command puts the server in lame-duck mode, which ends it", async () => {
    const objects = rendered.prod;
    const nats = objects.find((o) => o.kind === "StatefulSet" && o.metadata.name === "nats")!;
    type Probe = { httpGet: { path: string } };
    const container = podSpecOf(nats)!.containers[0] as unknown as { startupProbe: Probe; readinessProbe: Probe; livenessProbe: Probe; lifecycle: { preStop: { exec: { command: string[] } } } };
    const conf = (objects.find((o) => o.metadata.name === "nats-config")!.data as Record<string, string>)["nats.conf"];
    const auth = (objects.find((o) => o.metadata.name === "dtf-nats-auth")!.data as Record<string, string>)["nats-auth.conf"];
    const dir = mkdtempSync(join(tmpdir(), "dtf-natsprod-"));
    mkdirSync(join(dir, "auth"));
    writeFileSync(join(dir, "auth", "nats-auth.conf"), auth);
    const [client, monitor] = [await freePort(), await freePort()];
    // one server of the three (no routes to dial), on free ports, files under the test's directory, lame duck as configured
    const single = conf
      .replace(/^cluster \{[\s\S]*?^\}$/m, "")
      .replace(/^port: .*$/m, `port: ${client}\nhost: 127.0.0.1`)
      .replace(/^http_port: .*$/m, `http: "127.0.0.1:${monitor}"`)
      .replaceAll("/var/run/nats", join(dir, "run"))
      .replace('"/data/jetstream"', JSON.stringify(join(dir, "js")));
    mkdirSync(join(dir, "run"));
    writeFileSync(join(dir, "nats.conf"), single);
    const env = natsServerEnv(objects, Object.fromEntries(ROLES.map((r) => [r, `${r}-pw`])));
    const server = spawnTracked(NATS_210, ["-c", join(dir, "nats.conf")], { env: { ...process.env, ...env } });
    try {
      await until(() => server.log().includes("Server is ready"), 20_000, () => server.log());
      for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) {
        const res = await fetch(`http://127.0.0.1:${monitor}${probe.httpGet.path}`);
        expect(res.status, probe.httpGet.path).to.equal(200);
      }
      const [command, ...args] = container.lifecycle.preStop.exec.command.map((a) => a.replaceAll("/var/run/nats", join(dir, "run")));
      const signalled = await runToEnd(command === "nats-server" ? NATS_210 : command, args, { timeoutMs: 10_000 });
      expect(signalled.code, signalled.stderr).to.equal(0);
      // no clients: it leaves after the grace period (10 s), well within the pod's 60
      await until(() => server.exitCode !== null || server.signalCode !== null, 45_000, () => server.log());
      expect(server.log()).to.match(/lame duck/i);
    } finally {
      if (server.exitCode === null) server.kill("SIGKILL");
    }
  });

  it("NATS users - the manifests' permissions are the role table's, and a real nats-server with the dev overlay's config takes them", async () => {
    expect(readFileSync(join(root, "deploy", "kubernetes", "base", "nats-auth.conf"), "utf8")).to.equal(kubernetesAuthConfig());
    const auth = rendered.dev.find((o) => o.kind === "ConfigMap" && o.metadata.name === "dtf-nats-auth")!;
    expect((auth.data as Record<string, string>)["nats-auth.conf"]).to.equal(kubernetesAuthConfig());
    // the dev overlay's server config (its port and store set by the test), with its include, and the
    // environment the pod gets from its manifest and the overlay's Secret
    const natsConf = (rendered.dev.find((o) => o.metadata.name === "nats-config")!.data as Record<string, string>)["nats.conf"];
    const secrets = rendered.dev.find((o) => o.kind === "Secret" && o.metadata.name === "dtf-nats")!.data as Record<string, string>;
    const password = (role: string) => Buffer.from(secrets[role], "base64").toString();
    const env = natsServerEnv(rendered.dev, Object.fromEntries(ROLES.map((r) => [r, password(r)])));
    const server = await NatsServer.start(asLoopbackServer(natsConf), { "auth/nats-auth.conf": (auth.data as Record<string, string>)["nats-auth.conf"] }, { env });
    try {
      const nc = await connect({ servers: server.url, user: "dtf-worker", pass: password("worker") });
      await nc.close();
      const refused = await connect({ servers: server.url, user: "dtf-worker", pass: "wrong", reconnect: false }).then(
        async (c) => {
          await c.close();
          return false;
        },
        () => true,
      );
      expect(refused, "a wrong password is refused").to.equal(true);
    } finally {
      await server.stop();
    }
  });

  it("NATS passwords - every overlay's server starts (2.9 and 2.10) with passwords made as docs/deploy.md says, those that read as numbers included, and takes them", async () => {
    // `openssl rand -hex 16`, as docs step 3: about 1 in 16 reads as a number (445e7…, 12k…, all digits)
    const generated = Array.from({ length: 40 }, () => randomBytes(16).toString("hex"));
    const numeric = ["445e7a0c4b6f1d2e9f8a7b6c5d4e3f2a", "12345678901234567890123456789012", "7k3f9a0c4b6f1d2e9f8a7b6c5d4e3f2a", "0x1f9a0c4b6f1d2e9f8a7b6c5d4e3f2a", "1e5"];
    const passwords = [...numeric, ...generated];
    for (const overlay of OVERLAYS) {
      const conf = (rendered[overlay].find((o) => o.metadata.name === "nats-config")!.data as Record<string, string>)["nats.conf"];
      const auth = (rendered[overlay].find((o) => o.metadata.name === "dtf-nats-auth")!.data as Record<string, string>)["nats-auth.conf"];
      for (const binary of [NATS_29, NATS_210]) {
        for (let i = 0; i < passwords.length; i += ROLES.length) {
          const secret = Object.fromEntries(ROLES.map((r, j) => [r, passwords[(i + j) % passwords.length]]));
          const checked = await checkNatsConfig(binary, conf, auth, natsServerEnv(rendered[overlay], secret));
          expect(checked, `${overlay}, ${binary}, passwords ${JSON.stringify(secret)}`).to.equal("");
        }
      }
    }
    // the negative control: the Secret's value straight into the variable, as before, is refused
    const conf = (rendered.prod.find((o) => o.metadata.name === "nats-config")!.data as Record<string, string>)["nats.conf"];
    const auth = (rendered.prod.find((o) => o.metadata.name === "dtf-nats-auth")!.data as Record<string, string>)["nats-auth.conf"];
    const unquoted = Object.fromEntries(ROLES.map((r) => [`DTF_NATS_PASSWORD_${r.toUpperCase()}`, numeric[0]]));
    expect(await checkNatsConfig(NATS_29, conf, auth, { POD_NAME: "nats-0", ...unquoted })).to.contain("could not be parsed");
    // and a server of the prod overlay's config, started, takes a numeric-looking password as the roles send it
    const env = natsServerEnv(rendered.prod, Object.fromEntries(ROLES.map((r) => [r, numeric[0]])));
    const server = await NatsServer.start(asLoopbackServer(conf), { "auth/nats-auth.conf": auth }, { binary: NATS_210, env });
    try {
      const nc = await connect({ servers: server.url, user: "dtf-submitter", pass: numeric[0] });
      await nc.close();
    } finally {
      await server.stop();
    }
  });
});
