// What Kubernetes NetworkPolicies (networking.k8s.io/v1) allow, evaluated the way the API defines
// it, so the deploy test checks what the rendered policies do rather than how they look:
// - a pod selected by a policy with an Ingress (Egress) type is isolated for ingress (egress);
//   `policyTypes` absent means Ingress, plus Egress when the policy has at least one egress rule;
// - a connection needs both ends: the source's egress and the destination's ingress allow it;
// - a rule allows a peer and a port: no `from`/`to` is every peer, no `ports` every port;
// - a peer's podSelector alone means pods of the policy's namespace; namespaceSelector alone, every
//   pod of the matching namespaces; both, the matching pods of the matching namespaces;
// - a port is a number or the name of a container port of the destination; protocol TCP by default.
// ipBlock peers are for addresses outside the cluster; no pod here matches one.

export type Labels = Record<string, string>;
type Expression = { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] };
export type Selector = { matchLabels?: Labels; matchExpressions?: Expression[] };
type Peer = { podSelector?: Selector; namespaceSelector?: Selector; ipBlock?: unknown };
type PolicyPort = { protocol?: string; port?: number | string; endPort?: number };
type Rule = { from?: Peer[]; to?: Peer[]; ports?: PolicyPort[] };
export type NetworkPolicy = {
  metadata: { name: string; namespace?: string };
  spec: { podSelector: Selector; policyTypes?: string[]; ingress?: Rule[]; egress?: Rule[] };
};

/** A pod: where it runs, its labels, and its named container ports (for policies that name ports). */
export type Pod = { name: string; namespace: string; labels: Labels; ports?: { name?: string; containerPort: number; protocol?: string }[] };

/** A connection attempt: from one pod to a port of another. */
export type Flow = { from: Pod; to: Pod; port: number; protocol: "TCP" | "UDP" };

/** Whether `labels` satisfy `selector` (an empty selector matches everything). */
export function matches(selector: Selector | undefined, labels: Labels): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const ok =
      e.operator === "Exists" ? has
      : e.operator === "DoesNotExist" ? !has
      : e.operator === "In" ? has && (e.values ?? []).includes(labels[e.key])
      : e.operator === "NotIn" ? !has || !(e.values ?? []).includes(labels[e.key])
      : false;
    if (!ok) return false;
  }
  return true;
}

/** The labels Kubernetes gives every namespace (`kubernetes.io/metadata.name`), plus any given. */
export const namespaceLabels = (name: string, extra: Labels = {}): Labels => ({ "kubernetes.io/metadata.name": name, ...extra });

function types(policy: NetworkPolicy): string[] {
  // the API server's default: Egress only when there is at least one egress rule
  if (policy.spec.policyTypes?.length) return policy.spec.policyTypes;
  return ["Ingress", ...(policy.spec.egress?.length ? ["Egress"] : [])];
}

function peerMatches(peer: Peer, policyNamespace: string, pod: Pod, namespaces: Map<string, Labels>): boolean {
  if (peer.ipBlock) return false;
  const nsLabels = namespaces.get(pod.namespace) ?? namespaceLabels(pod.namespace);
  if (peer.namespaceSelector) return matches(peer.namespaceSelector, nsLabels) && matches(peer.podSelector, pod.labels);
  return pod.namespace === policyNamespace && matches(peer.podSelector, pod.labels);
}

function portMatches(rulePorts: PolicyPort[] | undefined, flow: Flow): boolean {
  if (!rulePorts || rulePorts.length === 0) return true;
  return rulePorts.some((p) => {
    if ((p.protocol ?? "TCP") !== flow.protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === "string") {
      // a named port is the destination container's port of that name
      return (flow.to.ports ?? []).some((c) => c.name === p.port && c.containerPort === flow.port && (c.protocol ?? "TCP") === flow.protocol);
    }
    return p.endPort === undefined ? p.port === flow.port : flow.port >= p.port && flow.port <= p.endPort;
  });
}

/** Whether the policies let `flow` through: the source's egress and the destination's ingress. */
export function allows(policies: NetworkPolicy[], flow: Flow, namespaces: Map<string, Labels> = new Map()): boolean {
  const side = (direction: "Ingress" | "Egress") => {
    const pod = direction === "Ingress" ? flow.to : flow.from;
    const peer = direction === "Ingress" ? flow.from : flow.to;
    const selecting = policies.filter((p) => (p.metadata.namespace ?? "default") === pod.namespace && types(p).includes(direction) && matches(p.spec.podSelector, pod.labels));
    if (selecting.length === 0) return true; // not isolated in this direction
    return selecting.some((policy) =>
      (direction === "Ingress" ? policy.spec.ingress : policy.spec.egress)?.some((rule) => {
        const peers = direction === "Ingress" ? rule.from : rule.to;
        const peerOk = !peers || peers.length === 0 || peers.some((p) => peerMatches(p, policy.metadata.namespace ?? "default", peer, namespaces));
        return peerOk && portMatches(rule.ports, flow);
      }),
    );
  };
  return side("Egress") && side("Ingress");
}
