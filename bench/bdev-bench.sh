#!/usr/bin/env bash
# Block-device layer benchmark (issue: block devices). Side by side, in one run:
#   ioe-perf on malloc://, ioe-perf on uring:// (a file), and fio (io_uring, direct)
#   on the same file — 4 KiB random read and write at QD1 and QD32, one core.
# Prints a markdown table (copy it into docs/benchmarks.md with the machine description).
# usage: [ROUNDS=3] bench/bdev-bench.sh [seconds-per-run] [file-size-MiB]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
SIZE_MB=${2:-1024}
DIR=${BENCH_DIR:-/var/tmp/ioe-bench}
FILE=$DIR/bench.img
CORE=${BENCH_CORE:-1}

command -v fio >/dev/null || { apt-get install -y --no-install-recommends fio >/dev/null; }
bash scripts/build.sh build >/dev/null
PERF=./build/bench/ioe-perf

mkdir -p "$DIR"
if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" -ne $((SIZE_MB << 20)) ]; then
  # Fully written, so neither side reads holes.
  dd if=/dev/urandom of="$FILE" bs=1M count="$SIZE_MB" oflag=direct status=none
fi

ioe() { # uri rw qd
  "$PERF" -u "$1" -w "$2" -q "$3" -o 4096 -t "$SECS" -c "$CORE" ${4:-} 2>/dev/null | /usr/bin/python3 -c \
    'import json,sys; r=json.loads(sys.stdin.read().strip().splitlines()[-1]); print("%.0f %.1f %.1f" % (r["iops"], r["mean_us"], r["p99_us"]))'
}
fio_run() { # rw qd
  fio --name=b --filename="$FILE" --ioengine=io_uring --direct=1 --rw="$1" --bs=4k \
      --iodepth="$2" --numjobs=1 --time_based --runtime="$SECS" --cpus_allowed="$CORE" \
      --output-format=json 2>/dev/null | /usr/bin/python3 -c '
import json,sys
j=json.load(sys.stdin)["jobs"][0]; k="read" if "read" in sys.argv[1] else "write"
d=j[k]; print("%.0f %.1f %.1f" % (d["iops"], d["clat_ns"]["mean"]/1000, d["clat_ns"]["percentile"]["99.000000"]/1000))' "$1"
}

# Each file workload runs ROUNDS times, alternating which side goes first (the virtual
# disk's host cache warms up during a run), and the median of each side is reported.
ROUNDS=${ROUNDS:-3}
median() { /usr/bin/python3 -c 'import sys,statistics; v=[l.split() for l in sys.stdin if l.strip()]; v.sort(key=lambda x: float(x[0])); print(" ".join(v[len(v)//2]))'; }

echo "| workload | QD | malloc IOPS | uring file IOPS (mean/p99 µs) | fio io_uring IOPS (mean/p99 µs) | uring / fio |"
echo "|---|---|---|---|---|---|"
for rw in randread randwrite; do
  for qd in 1 32; do
    read -r m_iops _ _ < <(ioe "malloc:///bench?size_mb=$SIZE_MB" "$rw" "$qd" -P)
    ours=""; theirs=""
    for round in $(seq 1 "$ROUNDS"); do
      if [ $((round % 2)) -eq 1 ]; then
        ours+="$(ioe "uring://$FILE" "$rw" "$qd")"$'\n'; theirs+="$(fio_run "$rw" "$qd")"$'\n'
      else
        theirs+="$(fio_run "$rw" "$qd")"$'\n'; ours+="$(ioe "uring://$FILE" "$rw" "$qd")"$'\n'
      fi
    done
    read -r u_iops u_mean u_p99 < <(printf "%s" "$ours" | median)
    read -r f_iops f_mean f_p99 < <(printf "%s" "$theirs" | median)
    ratio=$(/usr/bin/python3 -c "print('%.2f' % ($u_iops / $f_iops))")
    echo "| $rw 4k | $qd | $m_iops | $u_iops ($u_mean/$u_p99) | $f_iops ($f_mean/$f_p99) | $ratio |"
  done
done
