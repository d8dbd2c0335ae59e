#!/usr/bin/env bash
# Configures (once) and builds one build directory.
# usage: build.sh DIR [meson options...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" "$@"
fi
ninja -C "$dir"
