#!/usr/bin/env bash
# Idempotent set-up of a fresh checkout: npm packages (from the lockfile) and the native kernels.
# Re-running is cheap: npm ci runs only when package-lock.json changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=node_modules/.dtf-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# Debian packages the integration tests need (skipped with --no-system: the unit tier needs none): chromium (the report's browser test, driven by playwright-core)
# and nats-server (cluster-mode integration tests start their own on a free loopback port).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
if [ "${1:-}" = "--no-system" ]; then missing=(); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}; install with: sudo apt-get install ${missing[*]}" >&2
  fi
fi

# Debian trixie's nats-server 2.10 (beside the system's 2.9: cancel's filtered purge is tested on
# both) and kustomize v5 (the deploy tests render the manifests with it), unpacked under .tools/.
if [ "${1:-}" != "--no-system" ]; then
  for package in nats-server kustomize; do
    [ -d ".tools/$package" ] && continue
    echo "setup: $package from Debian trixie into .tools/"
    bash scripts/fetch-from-trixie.sh "$package" >/dev/null || echo "setup: could not fetch $package; the tests that need it will fail and say so" >&2
  done
fi

# Protobuf code generated from proto/ (protobufjs static module + types; not committed).
gen=packages/protocol/src/gen/dtf.js
if [ ! -f "$gen" ] || [ -n "$(find proto -name '*.proto' -newer "$gen")" ] || [ scripts/gen-proto.mjs -nt "$gen" ]; then
  node scripts/gen-proto.mjs
fi

# Native kernels (C, built with the system compiler against Node's headers; no download).
# Without a compiler the engine falls back to its TypeScript kernels, bit-identical but slower.
if [ ! -f packages/engine/build/dtf_kernels.node ] || [ packages/engine/native/kernels.c -nt packages/engine/build/dtf_kernels.node ]; then
  node scripts/build-native.mjs
fi
