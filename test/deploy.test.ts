import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CONSUMERS, kubernetesAuthConfig, NATS_ENV, STREAMS } from "@dtf/protocol";
import { connect } from "@nats-io/transport-node";
import { expect } from "chai";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import { runChecked } from "./kit/processes.ts";
import { dtf } from "./support/dtf.ts";
import { NatsServer } from "./support/nats-server.ts";

const run = runChecked;
const root = new URL("../", import.meta.url).pathname;
const OVERLAYS = ["dev", "prod"] as const;

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; spec?: Record<string, unknown> } & Record<string, unknown>;
type Container = { name: string; image: string; args?: string[]; env?: { name: string }[]; envFrom?: unknown[]; securityContext?: Record<string, unknown> };

/** `kubectl kustomize` of an overlay (offline), as objects. */
async function render(overlay: string): Promise<K8sObject[]> {
  const { stdout } = await run("kubectl", ["kustomize", join(root, "deploy", "kubernetes", "overlays", overlay)], {});
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

describe("deploy/kubernetes (offline: kubectl kustomize, type-checked objects)", function () {
  this.timeout(180_000);
  const rendered: Record<string, K8sObject[]> = {};
  before(async () => {
    const kubectl = await run("kubectl", ["version", "--client"]).then(
      () => true,
      () => false,
    );
    if (!kubectl) throw new Error("kubectl is missing: scripts/setup.sh installs Debian's kubernetes-client");
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
      expect(spec.triggers[0].metadata.natsServerMonitoringEndpoint).to.equal(`nats.${namespace}.svc.cluster.local:8222`);
    }
  });

  it("NATS users - the manifests' permissions are the role table's, and a real nats-server with the dev overlay's config takes them", async () => {
    expect(readFileSync(join(root, "deploy", "kubernetes", "base", "nats-auth.conf"), "utf8")).to.equal(kubernetesAuthConfig());
    const auth = rendered.dev.find((o) => o.kind === "ConfigMap" && o.metadata.name === "dtf-nats-auth")!;
    expect((auth.data as Record<string, string>)["nats-auth.conf"]).to.equal(kubernetesAuthConfig());
    // the dev overlay's server config (its port and store set by the test), with its include, and the
    // passwords from the environment as the pod gets them from the Secret
    const natsConf = (rendered.dev.find((o) => o.metadata.name === "nats-config")!.data as Record<string, string>)["nats.conf"];
    const secrets = rendered.dev.find((o) => o.kind === "Secret" && o.metadata.name === "dtf-nats")!.data as Record<string, string>;
    const password = (role: string) => Buffer.from(secrets[role], "base64").toString();
    for (const role of ["submitter", "worker", "aggregator", "reader"]) process.env[`DTF_NATS_PASSWORD_${role.toUpperCase()}`] = password(role);
    const server = await NatsServer.start(natsConf.replace(/^port:.*$|^http_port:.*$|^jetstream \{[\s\S]*?\}$/gm, ""), {
      "auth/nats-auth.conf": (auth.data as Record<string, string>)["nats-auth.conf"],
    });
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
});
