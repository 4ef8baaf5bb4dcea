#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Cross-check xvbench against the anchors (docs/bench.md quotes its output):
#   timer  xvbench timer --mode abs and cyclictest, run at the same time,
#          idle and under stress-ng --cpu 2, SCHED_FIFO 80 and SCHED_OTHER
#   load   xvbench load GEN and the comparable stress-ng stressor
#   randread  xvbench randread and fio --rw=randread --ioengine=sync
# usage: crosscheck.sh [timer|load|randread]... (default: all)
# Environment: XVBENCH (default build/bench/xvbench), OUT (default /tmp/xvbench-crosscheck),
# SECS (timer run length, default 10).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
XVBENCH=${XVBENCH:-$here/../../build/bench/xvbench}
OUT=${OUT:-/tmp/xvbench-crosscheck}
SECS=${SECS:-10}
mkdir -p "$OUT"

summ() {        # summ LABEL XVBENCH_JSON CYCLICTEST_JSON CYCLICTEST_HIST
        python3 - "$@" <<'PY'
import json, sys
label, xv, ctj, cth = sys.argv[1:5]
x = json.load(open(xv))["results"]["latency"]
c = json.load(open(ctj))["thread"]["0"]
# cyclictest's histogram (-h): "USEC COUNT" lines, then "# Histogram Overflows".
hist, over = [], 0
for line in open(cth):
    p = line.split()
    if line[0].isdigit() and len(p) >= 2:
        hist.append((int(p[0]), int(p[1])))
    elif line.startswith("# Histogram Overflows"):
        over = int(p[-1])
n = sum(k for _, k in hist) + over
def pct(q):
    import math
    rank = max(1, math.ceil(q / 100 * n)); cum = 0
    for us, k in hist:
        cum += k
        if cum >= rank:
            return us
    return float("inf")
print(f"{label}")
print(f"  {'':10} {'samples':>8} {'min':>6} {'avg':>8} {'p50':>6} {'p90':>6} {'p99':>6} {'p99.9':>6} {'max':>6}  (us)")
print(f"  {'xvbench':10} {x['count']:8d} {x['min_ns']/1e3:6.0f} {x['mean_ns']/1e3:8.1f} {x['p50_ns']/1e3:6.0f} "
      f"{x['p90_ns']/1e3:6.0f} {x['p99_ns']/1e3:6.0f} {x['p99_9_ns']/1e3:6.0f} {x['max_ns']/1e3:6.0f}")
print(f"  {'cyclictest':10} {n:8d} {c['min']:6d} {c['avg']:8.1f} {pct(50):6} {pct(90):6} {pct(99):6} {pct(99.9):6} {c['max']:6d}")
PY
}

timer_pair() {  # timer_pair NAME PRIO_ARGS_XV PRIO_ARGS_CT
        local name=$1 xvp=$2 ctp=$3 loops=$((SECS * 1000))
        # shellcheck disable=SC2086
        cyclictest -m $ctp -i 1000 -l "$loops" -q -h 2000 --json="$OUT/$name.ct.json" > "$OUT/$name.ct.hist" &
        local ct=$!
        # shellcheck disable=SC2086
        "$XVBENCH" timer --mode abs --interval 1ms --loops "$loops" $xvp --hist-range 2ms \
                --json="$OUT/$name.xv.json"
        wait "$ct"
}

do_timer() {
        local secs=$((SECS + 4))
        echo "cyclictest -m -p 80 -i 1000 -l $((SECS * 1000)) -q -h 2000 --json=F  ||  xvbench timer --mode abs --interval 1ms --loops $((SECS * 1000)) --prio 80 --hist-range 2ms --json=F"
        timer_pair idle-fifo "--prio 80" "-p 80"
        summ "idle, SCHED_FIFO 80" "$OUT/idle-fifo.xv.json" "$OUT/idle-fifo.ct.json" "$OUT/idle-fifo.ct.hist"
        timer_pair idle-other "" ""
        summ "idle, SCHED_OTHER" "$OUT/idle-other.xv.json" "$OUT/idle-other.ct.json" "$OUT/idle-other.ct.hist"
        stress-ng --cpu 2 --timeout "${secs}s" --quiet &
        local st=$!
        sleep 1
        timer_pair cpu2-fifo "--prio 80" "-p 80"
        wait "$st"
        summ "stress-ng --cpu 2, SCHED_FIFO 80" "$OUT/cpu2-fifo.xv.json" "$OUT/cpu2-fifo.ct.json" "$OUT/cpu2-fifo.ct.hist"
        stress-ng --cpu 2 --timeout "${secs}s" --quiet &
        st=$!
        sleep 1
        timer_pair cpu2-other "" ""
        wait "$st"
        summ "stress-ng --cpu 2, SCHED_OTHER" "$OUT/cpu2-other.xv.json" "$OUT/cpu2-other.ct.json" "$OUT/cpu2-other.ct.hist"
}

# One generator against one stressor, 5 s each, 2 workers, one after the other.
load_pair() {   # load_pair GEN "STRESS-NG ARGS"
        local gen=$1 sargs=$2
        "$XVBENCH" load "$gen" --workers 2 --duration 5 --bytes 64M --json="$OUT/load-$gen.json"
        # shellcheck disable=SC2086
        stress-ng $sargs --timeout 5s --metrics-brief --yaml "$OUT/stress-$gen.yaml" > "$OUT/stress-$gen.txt" 2>&1
        python3 - "$gen" "$sargs" "$OUT/load-$gen.json" "$OUT/stress-$gen.yaml" <<'PY'
import json, sys, re
gen, sargs, xj, sy = sys.argv[1:5]
r = json.load(open(xj))["results"]
print(f"  xvbench load {gen:6} --workers 2: {r['operations_per_s']:12.0f} ops/s  cpu {r['cpu_utilization_percent']:5.0f} %  "
      f"(usr {r['user_ns']/1e9:5.2f} s, sys {r['sys_ns']/1e9:5.2f} s)")
# stress-ng's YAML metrics: one block per stressor.
txt = open(sy).read()
m = {}
for k, v in re.findall(r"^\s+(bogo-ops-per-second-real-time|wall-clock-time|user-time|system-time):\s+([0-9.e+-]+)", txt, re.M):
    m[k] = max(m.get(k, 0), float(v)) if k == "wall-clock-time" else m.get(k, 0) + float(v)
wall = m.get("wall-clock-time", 0) or 1
print(f"  stress-ng {sargs:25}: {m.get('bogo-ops-per-second-real-time', 0):12.0f} bogo ops/s  cpu "
      f"{100 * (m.get('user-time', 0) + m.get('system-time', 0)) / wall:5.0f} %  "
      f"(usr {m.get('user-time', 0):5.2f} s, sys {m.get('system-time', 0):5.2f} s)")
PY
}

do_load() {
        load_pair cpu "--cpu 2"
        load_pair vm "--vm 2 --vm-bytes 64M"
        load_pair io "--io 2"
        load_pair hdd "--hdd 2 --hdd-bytes 16M"
        load_pair kernel "--shm-sysv 1 --sem-sysv 1"
        load_pair files "--dentry 2"
        load_pair udp "--udp 2"
}

do_randread() {
        local f=$OUT/randread.dat
        [ -f "$f" ] || dd if=/dev/urandom of="$f" bs=1M count=64 status=none
        for sz in 256K 1M; do
                case $sz in *M) kib=$(( ${sz%M} * 1024 )) ;; *K) kib=${sz%K} ;; esac
                "$XVBENCH" randread --file "$f" --size "$sz" --loops 200 --reps 10 --json="$OUT/randread-$sz.json"
                fio --name=rr --filename="$f" --rw=randread --ioengine=sync --bs="$sz" --size=64M \
                    --io_size=$(( kib * 2000 ))K --invalidate=0 \
                    --output-format=json > "$OUT/fio-$sz.json"
                python3 - "$sz" "$OUT/randread-$sz.json" "$OUT/fio-$sz.json" <<'PY'
import json, sys
sz, xj, fj = sys.argv[1:4]
r = json.load(open(xj))["results"]
f = json.load(open(fj))["jobs"][0]["read"]
print(f"  {sz:>4}: xvbench per read median {r['per_op']['median_ns']/1e3:8.1f} us (min {r['per_op']['min_ns']/1e3:.1f}, "
      f"max {r['per_op']['max_ns']/1e3:.1f}), {r['throughput']['median_mib_per_s']:8.0f} MiB/s")
print(f"        fio      clat mean {f['clat_ns']['mean']/1e3:8.1f} us, p50 {f['clat_ns']['percentile']['50.000000']/1e3:.1f}, "
      f"p99 {f['clat_ns']['percentile']['99.000000']/1e3:.1f} us, {f['bw']/1024:8.0f} MiB/s")
PY
        done
}

what=${*:-timer load randread}
for w in $what; do
        echo "== $w =="
        "do_$w"
done
