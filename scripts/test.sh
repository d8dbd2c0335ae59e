#!/usr/bin/env bash
# Installs what is needed, builds, and runs the whole test suite twice: on the normal
# build and on an ASan+UBSan build; after the normal build's unit tests, a 30 s libFuzzer
# run (tests/fuzz/run-fuzz.sh, clang). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
PY=/usr/bin/python3 # Debian's python3 has python3-grpcio; another python3 may be first on PATH

run_suite() {
  local dir=$1
  echo "=== unit tests ($dir) ==="
  meson test -C "$dir" --suite unit --print-errorlogs
  if [ "$dir" = build ]; then
    echo "=== fuzzing (clang, build-fuzz) ==="
    bash tests/fuzz/run-fuzz.sh 30
  fi
  echo "=== integration tests ($dir) ==="
  IOE_BUILD_DIR="$dir" "$PY" -m pytest -q -p no:cacheprovider tests/integration
}

bash scripts/build.sh build
bash scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
run_suite build
run_suite build-asan
echo "=== all tests passed ==="
