import { expect } from "chai";
import { allows, type Flow, matches, type NetworkPolicy, namespaceLabels, type Pod } from "./support/netpol.ts";

const pod = (name: string, labels: Record<string, string>, namespace = "app", ports: Pod["ports"] = []): Pod => ({ name, namespace, labels, ports });
const web = pod("web", { role: "web" }, "app", [{ name: "http", containerPort: 8080 }]);
const db = pod("db", { role: "db" }, "app", [{ name: "pg", containerPort: 5432 }]);
const dns = pod("dns", { "k8s-app": "kube-dns" }, "kube-system");
const outsider = pod("outsider", { role: "web" }, "other");
const flow = (from: Pod, to: Pod, port: number, protocol: "TCP" | "UDP" = "TCP"): Flow => ({ from, to, port, protocol });
const policy = (name: string, spec: NetworkPolicy["spec"], namespace = "app"): NetworkPolicy => ({ metadata: { name, namespace }, spec });
const denyAll = policy("deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] });

describe("NetworkPolicy evaluator (test support, checked against the API's rules)", () => {
  it("selectors - matchLabels and every expression operator; an empty selector matches all", () => {
    expect(matches({}, {})).to.equal(true);
    expect(matches({ matchLabels: { a: "1" } }, { a: "1", b: "2" })).to.equal(true);
    expect(matches({ matchLabels: { a: "1" } }, { a: "2" })).to.equal(false);
    expect(matches({ matchExpressions: [{ key: "a", operator: "Exists" }] }, { a: "" })).to.equal(true);
    expect(matches({ matchExpressions: [{ key: "a", operator: "DoesNotExist" }] }, { a: "" })).to.equal(false);
    expect(matches({ matchExpressions: [{ key: "a", operator: "In", values: ["x", "y"] }] }, { a: "y" })).to.equal(true);
    expect(matches({ matchExpressions: [{ key: "a", operator: "NotIn", values: ["x"] }] }, {})).to.equal(true);
    expect(matches({ matchLabels: { a: "1" }, matchExpressions: [{ key: "b", operator: "Exists" }] }, { a: "1" }), "both must hold").to.equal(false);
  });

  it("no policy allows everything; a default deny blocks everything in its namespace only", () => {
    expect(allows([], flow(web, db, 5432))).to.equal(true);
    expect(allows([denyAll], flow(web, db, 5432))).to.equal(false);
    expect(allows([denyAll], flow(outsider, outsider, 1))).to.equal(true);
    expect(allows([denyAll], flow(outsider, db, 5432)), "ingress of db isolated").to.equal(false);
  });

  it("both ends - an ingress rule alone does not pass a source whose egress is isolated", () => {
    const dbIngress = policy("db-in", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: "web" } } }], ports: [{ port: 5432 }] }] });
    expect(allows([dbIngress], flow(web, db, 5432))).to.equal(true);
    expect(allows([denyAll, dbIngress], flow(web, db, 5432)), "web's egress denied").to.equal(false);
    const webEgress = policy("web-out", { podSelector: { matchLabels: { role: "web" } }, policyTypes: ["Egress"], egress: [{ to: [{ podSelector: { matchLabels: { role: "db" } } }], ports: [{ port: 5432 }] }] });
    expect(allows([denyAll, dbIngress, webEgress], flow(web, db, 5432))).to.equal(true);
    expect(allows([denyAll, dbIngress, webEgress], flow(web, db, 5433)), "another port").to.equal(false);
    expect(allows([denyAll, dbIngress, webEgress], flow(web, db, 5432, "UDP")), "another protocol").to.equal(false);
  });

  it("peers - podSelector alone is the policy's namespace; with namespaceSelector in one peer both must match; two peers are either", () => {
    const sameNs = policy("p", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: "web" } } }] }] });
    expect(allows([sameNs], flow(outsider, db, 5432)), "a web pod of another namespace").to.equal(false);
    const both = policy("p", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: namespaceLabels("other") }, podSelector: { matchLabels: { role: "web" } } }] }] });
    expect(allows([both], flow(outsider, db, 5432))).to.equal(true);
    expect(allows([both], flow(web, db, 5432)), "right pod, wrong namespace").to.equal(false);
    const either = policy("p", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: namespaceLabels("kube-system") } }, { podSelector: { matchLabels: { role: "web" } } }] }] });
    expect(allows([either], flow(dns, db, 5432))).to.equal(true);
    expect(allows([either], flow(web, db, 5432))).to.equal(true);
    expect(allows([either], flow(outsider, db, 5432))).to.equal(false);
    const everyNs = policy("p", { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }], ports: [{ port: 53, protocol: "UDP" }] }] });
    expect(allows([everyNs], flow(web, dns, 53, "UDP"))).to.equal(true);
    expect(allows([everyNs], flow(web, dns, 53, "TCP"))).to.equal(false);
  });

  it("ports - a named port is the destination's container port of that name; a range with endPort", () => {
    const named = policy("p", { podSelector: {}, ingress: [{ ports: [{ port: "pg" }] }] });
    expect(allows([named], flow(web, db, 5432))).to.equal(true);
    expect(allows([named], flow(db, web, 5432)), "web has no port named pg").to.equal(false);
    const range = policy("p", { podSelector: {}, ingress: [{ ports: [{ port: 5000, endPort: 6000 }] }] });
    expect(allows([range], flow(web, db, 5432))).to.equal(true);
    expect(allows([range], flow(web, db, 8080))).to.equal(false);
  });

  it("policy types - absent means Ingress (plus Egress with egress rules); an Ingress-only policy leaves egress open", () => {
    const ingressOnly = policy("p", { podSelector: { matchLabels: { role: "web" } }, ingress: [] });
    expect(allows([ingressOnly], flow(db, web, 8080)), "web isolated for ingress, no rule").to.equal(false);
    expect(allows([ingressOnly], flow(web, db, 5432)), "web's egress not isolated").to.equal(true);
    const emptyEgress = policy("p", { podSelector: { matchLabels: { role: "web" } }, egress: [] });
    expect(allows([emptyEgress], flow(web, db, 5432)), "an empty egress list: not an Egress policy").to.equal(true);
    const withEgress = policy("p", { podSelector: { matchLabels: { role: "web" } }, egress: [{ to: [{ podSelector: { matchLabels: { role: "db" } } }] }] });
    expect(allows([withEgress], flow(web, db, 5432))).to.equal(true);
    expect(allows([withEgress], flow(web, dns, 53, "UDP")), "egress rules present: egress isolated too").to.equal(false);
  });
});
