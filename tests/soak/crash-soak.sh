#!/usr/bin/env bash
# Crash soak: the crash-consistency test (tests/integration/test_crash.py) with many
# kill -9 cycles against one pool.
#
# usage: tests/soak/crash-soak.sh [cycles]        (default 500)
# environment: IOE_BUILD_DIR (default <repo>/build), IOE_CRASH_SEED (default random),
#              SOAK_DIR (pytest's tmp dir, default a new one under /tmp)
# On a failure the seed and the cycle are printed (rerun with IOE_CRASH_SEED and
# IOE_CRASH_CYCLES to reproduce) and the pool image and the logs of the last cycles are
# kept in SOAK_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
cycles=${1:-500}
export IOE_BUILD_DIR=${IOE_BUILD_DIR:-$PWD/build}
export IOE_CRASH_CYCLES=$cycles
export IOE_CRASH_SEED=${IOE_CRASH_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
dir=${SOAK_DIR:-$(mktemp -d /tmp/ioe-crash-soak.XXXXXX)}
if [ ! -x "$IOE_BUILD_DIR/src/io-engine" ]; then
  echo "no io-engine in $IOE_BUILD_DIR: build it first (scripts/build.sh build)" >&2
  exit 2
fi
echo "crash soak: $cycles cycles, seed $IOE_CRASH_SEED, build $IOE_BUILD_DIR, tmp $dir"
PY=/usr/bin/python3 # Debian's python3 has python3-grpcio
if "$PY" -m pytest -q -s -p no:cacheprovider --basetemp="$dir" tests/integration/test_crash.py; then
  rm -rf "$dir"
else
  echo "crash soak FAILED (seed $IOE_CRASH_SEED); pool image and logs kept in $dir" >&2
  exit 1
fi
