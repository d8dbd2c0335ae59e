#!/usr/bin/env bash
# Installs what is needed, builds, and runs the io-engine on its defaults
# (gRPC on [::]:10124, JSON-RPC on /var/tmp/mayastor.sock). Extra arguments go to the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
exec ./build/src/io-engine "$@"
