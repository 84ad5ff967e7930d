// Writes the nats-server permission files from the role table in packages/protocol/src/permissions.ts:
// deploy/nats/dtf-roles.conf (the example config) and deploy/kubernetes/base/nats-auth.conf.
//   node --import tsx scripts/gen-nats-roles.ts
import { writeFileSync } from "node:fs";
import { exampleServerConfig, kubernetesAuthConfig } from "../packages/protocol/src/permissions.ts";

for (const [path, text] of [
  ["../deploy/nats/dtf-roles.conf", exampleServerConfig()],
  ["../deploy/kubernetes/base/nats-auth.conf", kubernetesAuthConfig()],
] as const) {
  const file = new URL(path, import.meta.url).pathname;
  writeFileSync(file, text);
  console.log(`gen-nats-roles: ${file}`);
}
