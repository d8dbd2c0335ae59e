#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) in build-fuzz and runs each briefly
# on its seed corpus. New inputs go to a scratch directory, not the seeds; a crash leaves
# crash-* in build-fuzz and fails the script.
# usage: tests/fuzz/run-fuzz.sh [SECONDS (default 30)] [extra libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-30}
shift || true
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$dir" tests/fuzz/fuzz_nvmf_pdu
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for target in nvmf_pdu; do
  work=$(mktemp -d)
  echo "=== fuzz_$target: ${secs} s ==="
  (cd "$dir" && "./tests/fuzz/fuzz_$target" -max_total_time="$secs" -timeout=20 \
     -print_final_stats=1 "$@" "$work" "../tests/fuzz/corpus/$target")
  rm -rf "$work"
done
