#!/bin/sh
# Runs protoc-c for one .proto file and fixes what protoc-c 1.4.1 gets wrong for us:
# an rpc named `Register` becomes a service-stub member named `register`, a C keyword.
# usage: protoc-c-gen.sh PROTOC_C OUT_DIR GENERATED_C GENERATED_H -I... file.proto
set -eu
protoc_c=$1; out=$2; gen_c=$3; gen_h=$4; shift 4
"$protoc_c" --c_out="$out" "$@"
sed -i 's/\bregister\b/register_/g' "$gen_c" "$gen_h"
