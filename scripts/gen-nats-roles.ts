// Writes deploy/nats/dtf-roles.conf from the role table in packages/protocol/src/permissions.ts.
//   node --import tsx scripts/gen-nats-roles.ts
import { writeFileSync } from "node:fs";
import { exampleServerConfig } from "../packages/protocol/src/permissions.ts";

const file = new URL("../deploy/nats/dtf-roles.conf", import.meta.url).pathname;
writeFileSync(file, exampleServerConfig());
console.log(`gen-nats-roles: ${file}`);
