#!/bin/bash
# The production install the image runs (deploy/docker/Dockerfile), in DIR (default .): the
# locked dependencies, the protobuf code, the native kernels for a portable CPU (DTF_MARCH,
# default x86-64-v2 on x86-64, armv8-a on arm64: any server of the last decade) and the compiled JavaScript; then the development dependencies and the
# TypeScript sources are removed, so `dtf` can only run the compiled build.
# test/build.test.ts runs this same script in a scratch directory.
set -euo pipefail
cd "${1:-.}"
npm ci --no-audit --no-fund --prefer-offline
case "$(uname -m)" in
  x86_64) portable=x86-64-v2 ;;
  aarch64 | arm64) portable=armv8-a ;;
  *) portable=native ;;
esac
DTF_MARCH="${DTF_MARCH:-$portable}" DTF_NATIVE_REQUIRED=1 npm run build
npm prune --omit=dev --no-audit --no-fund
rm -rf packages/*/src packages/*/test build/tsc
