#!/usr/bin/env bash
# NVMe/TCP benchmark (issue: NVMe-over-TCP initiator and the performance benchmark). One
# script, one run, side by side:
#   - fio (io_uring, --direct=1) on the backing file: the backend's own figure;
#   - the io-engine, one reactor pinned to core $ENGINE_CORE (-l), sharing a replica on a
#     malloc pool and a replica on a uring-file pool (that same file) over NVMe/TCP on
#     loopback;
#   - ioe-perf (the load generator) pinned to core $PERF_CORE driving each replica:
#     4 KiB randread / randwrite at QD1 and QD32, 128 KiB sequential read / write at QD8;
#   - the engine's CPU use while idle with 10 shared replicas.
# Prints markdown tables (copy them into docs/benchmarks.md with the machine description).
# Everything listens on 127.0.0.1 only.
# usage: [ROUNDS=3] bench/nvmf-bench.sh [seconds-per-run] [file-size-MiB]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
SIZE_MB=${2:-1024}
ROUNDS=${ROUNDS:-3}
IDLE_SECS=${IDLE_SECS:-30}
DIR=${BENCH_DIR:-/var/tmp/ioe-nvmf-bench}
FILE=$DIR/pool.img
ENGINE_CORE=${ENGINE_CORE:-0}
PERF_CORE=${PERF_CORE:-1}
GRPC_PORT=${GRPC_PORT:-20124}
NVMF_PORT=${NVMF_PORT:-18420}
NEXUS_PORT=${NEXUS_PORT:-14421}

command -v fio >/dev/null || apt-get install -y --no-install-recommends fio >/dev/null
bash scripts/build.sh build >/dev/null
ENGINE=./build/src/io-engine
CLI="./build/cli/io-engine-client -b 127.0.0.1:$GRPC_PORT"
PERF=./build/bench/ioe-perf
mkdir -p "$DIR"

# ---- fio on the file: the backend's figure (before a pool is put on it) ----
rm -f "$FILE"
dd if=/dev/urandom of="$FILE" bs=1M count="$SIZE_MB" oflag=direct status=none
fio_run() { # rw bs qd -> "iops mib mean p50 p99 p999"
  fio --name=b --filename="$FILE" --ioengine=io_uring --direct=1 --rw="$1" --bs="$2" \
      --iodepth="$3" --numjobs=1 --time_based --runtime="$SECS" --cpus_allowed="$PERF_CORE" \
      --output-format=json 2>/dev/null | /usr/bin/python3 -c '
import json,sys
j=json.load(sys.stdin)["jobs"][0]; d=j["read" if "read" in sys.argv[1] else "write"]
p=d["clat_ns"]["percentile"]
print("%.0f %.1f %.1f %.1f %.1f %.1f" % (d["iops"], d["bw"]/1024, d["clat_ns"]["mean"]/1000,
      p["50.000000"]/1000, p["99.000000"]/1000, p["99.900000"]/1000))' "$1"
}
median() { /usr/bin/python3 -c 'import sys; v=[l.split() for l in sys.stdin if l.strip()]; v.sort(key=lambda x: float(x[0])); print(" ".join(v[len(v)//2]))'; }
WORKLOADS="randread:4096:1 randread:4096:32 randwrite:4096:1 randwrite:4096:32 read:131072:8 write:131072:8"
declare -A FIO
for w in $WORKLOADS; do
  IFS=: read -r rw bs qd <<<"$w"
  runs=""
  for _ in $(seq 1 "$ROUNDS"); do runs+="$(fio_run "$rw" "$bs" "$qd")"$'\n'; done
  FIO[$w]=$(printf "%s" "$runs" | median)
done

# ---- the engine ----
CFG=$DIR/engine.yaml
printf 'nexus_opts:\n  nvmf_replica_port: %s\n  nvmf_nexus_port: %s\n' "$NVMF_PORT" "$NEXUS_PORT" >"$CFG"
"$ENGINE" --grpc-ip 127.0.0.1 --grpc-port "$GRPC_PORT" -l "$ENGINE_CORE" -r "$DIR/engine.sock" \
  -y "$CFG" >"$DIR/engine.log" 2>&1 &
EPID=$!
trap 'kill $EPID 2>/dev/null || true; wait $EPID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do $CLI host info >/dev/null 2>&1 && break; sleep 0.1; done
MALLOC_MB=$((SIZE_MB + 64))
$CLI pool create pm "malloc:///pm?size_mb=$MALLOC_MB" >/dev/null
$CLI pool create pu "uring://$FILE" >/dev/null
CAP_MB=$((SIZE_MB - 64))
$CLI replica create rm --pool pm --size "${CAP_MB}MiB" --share nvmf >/dev/null
$CLI replica create ru --pool pu --size "${CAP_MB}MiB" --share nvmf >/dev/null
trid() { echo "trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:$NVMF_PORT subnqn:nqn.2019-05.io.openebs:$1"; }
perf_run() { # replica rw bs qd [extra] -> "iops mib mean p50 p99 p999"
  "$PERF" -r "$(trid "$1")" -w "$2" -o "$3" -q "$4" -t "$SECS" -c "$PERF_CORE" ${5:-} 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; r=json.loads(sys.stdin.read().strip().splitlines()[-1]); assert r["errors"]==0, r; print("%.0f %.1f %.1f %.1f %.1f %.1f" % (r["iops"], r["mib_s"], r["mean_us"], r["p50_us"], r["p99_us"], r["p999_us"]))'
}
# Both replicas fully written once, so reads hit allocated clusters with data.
"$PERF" -r "$(trid rm)" -w write -o 131072 -q 8 -t 1 -c "$PERF_CORE" -P >/dev/null 2>&1
"$PERF" -r "$(trid ru)" -w write -o 131072 -q 8 -t 1 -c "$PERF_CORE" -P >/dev/null 2>&1

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks=$(getconf CLK_TCK)
echo "| workload | QD | malloc replica over NVMe/TCP: IOPS, MiB/s (mean/p50/p99/p99.9 µs) | uring-file replica over NVMe/TCP | fio io_uring on the file | file replica / fio | engine CPU % (file runs) |"
echo "|---|---|---|---|---|---|---|"
for w in $WORKLOADS; do
  IFS=: read -r rw bs qd <<<"$w"
  m=""; u=""; cpu=""
  for _ in $(seq 1 "$ROUNDS"); do
    m+="$(perf_run rm "$rw" "$bs" "$qd")"$'\n'
    c0=$(cpu_of $EPID); t0=$(date +%s.%N)
    u+="$(perf_run ru "$rw" "$bs" "$qd")"$'\n'
    c1=$(cpu_of $EPID); t1=$(date +%s.%N)
    cpu+="$(/usr/bin/python3 -c "print('%.0f' % (100.0 * ($c1 - $c0) / $ticks / ($t1 - $t0)))")"$'\n'
  done
  read -r mi mm mme mp50 mp99 mp999 < <(printf "%s" "$m" | median)
  read -r ui um ume up50 up99 up999 < <(printf "%s" "$u" | median)
  read -r fi fm fme fp50 fp99 fp999 <<<"${FIO[$w]}"
  c=$(printf "%s" "$cpu" | median)
  ratio=$(/usr/bin/python3 -c "print('%.2f' % ($ui / $fi))")
  label="$rw $((bs / 1024))k"
  echo "| $label | $qd | $mi, $mm ($mme/$mp50/$mp99/$mp999) | $ui, $um ($ume/$up50/$up99/$up999) | $fi, $fm ($fme/$fp50/$fp99/$fp999) | $ratio | $c |"
done

# ---- idle: 10 shared replicas, nobody connected ----
for i in $(seq 0 7); do
  $CLI replica create "idle$i" --pool pm --size 8MiB --share nvmf >/dev/null
done
sleep 2
c0=$(cpu_of $EPID); t0=$(date +%s.%N)
sleep "$IDLE_SECS"
c1=$(cpu_of $EPID); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$EPID/status")
shared=$($CLI -o json nvmf subsystems | /usr/bin/python3 -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin) if s["subtype"] == "NVMe"))')
echo
echo "Idle: $shared shared replicas, ${IDLE_SECS} s: engine CPU $(/usr/bin/python3 -c "print('%.2f' % (100.0 * ($c1 - $c0) / $ticks / ($t1 - $t0)))") %, RSS $((rss / 1024)) MiB"
