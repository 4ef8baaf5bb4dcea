#!/bin/bash
# Host SCHED_IDLE for the vCPUs of a VM that only idle-class work keeps busy
# (issue 12; docs/policy.md, "Host SCHED_IDLE"): the wake-up latency of a
# high-class guest workload beside such a VM, with it (`vcpu_idle = yes`,
# the default) and without (`vcpu_idle = no`: the domain is only at weight 1).
#
#   scripts/bench-vcpu-idle.sh [BUILD_DIR] [REPS] [SECONDS]   (as root; build, 3, 10)
#
# Two busybox guests on CPU 0: `hi` runs `xvbench timer` (clock_nanosleep
# every 2 ms, as cyclictest) for SECONDS at a time, over and over; it is not
# a watched task, so the daemon never stops the other guest's task for it:
# only the host's scheduler stands between its wake-ups and that task.  `lo`
# runs a CPU-bound idle-class task.  Each round runs the daemon once with
# and once without, in turn, and takes the first timer run that starts after
# 3 s of settling.  Prints each figure's median, min-max and count.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
XV_BUILD=$(cd "${1:-$src/build}" && pwd)
export XV_BUILD
reps=${2:-3}
secs=${3:-10}
export XV_SRC=$src XV_TEST_NAME=bench-vcpu-idle
. "$src/tests/lib/common.sh"
require_vm
. "$src/tests/lib/policy.sh"

vm start --name vihi --pvh --agent --stay --cmd "while :; do echo BENCH-BEGIN; xvbench timer --interval 2ms --duration $secs; echo BENCH-END; done" >/dev/null
vm start --name vilo --pvh --agent --stay --cmd "$GUEST_LIB b backup; sleep 100000" >/dev/null
vm wait vihi
vm wait vilo

results=$XV_TEST_DIR/results
: >"$results"
for ((r = 1; r <= reps; r++)); do
        for mode in yes no; do
                conf=$XV_TEST_DIR/$mode.conf
                cat >"$conf" <<CONF
[daemon]
vcpu_idle = $mode
[domain hi]
match = vihi
cpus = 0
[domain lo]
match = vilo
cpus = 0
[task backup]
domain = lo
comm = backup
class = idle
CONF
                daemon_start "$conf"
                sleep 3
                c=$(vm console vihi)
                n0=$(wc -l <"$c")
                # the first complete run that begins after now
                for ((i = 0; i < (2 * secs + 30) * 10; i++)); do
                        tail -n +"$((n0 + 1))" "$c" | tr -d '\r' | awk '/^BENCH-BEGIN/{b=1} b && /^BENCH-END/{f=1} END{exit !f}' && break
                        sleep 0.1
                done
                policy=$(sed 's/.*) //' /proc/"$(vm pid vilo)"/task/*/stat 2>/dev/null | awk '{print $39}' | sort | uniq -c | awk '{printf "%s%sx%s", (NR > 1 ? "," : ""), $1, $2}')
                "$X" status --json >"$XV_TEST_DIR/status.json"
                daemon_stop
                tail -n +"$((n0 + 1))" "$c" | tr -d '\r' | awk '/^BENCH-BEGIN/{b=1; next} b && /^BENCH-END/{exit} b' |
                        python3 -c 'import re, sys
mode, r, pol = sys.argv[1:]
text = sys.stdin.read()
unit = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
def lat(name):   # the latency section: "max 1.2 ms", "p99 300.5 us"
    sec = text.split("latency:", 1)[1].split("wakeup_interval:", 1)[0]
    m = re.search(r"\b" + name + r" ([\d.]+) (ns|us|ms|s)\b", sec)
    return round(float(m.group(1)) * unit[m.group(2)], 1)
def num(name):
    return int(re.search(r"\b" + name + r": (\d+)", text).group(1))
print(mode, r, lat("p50"), lat("p99"), lat("max"), num("wakeups"), num("missed_expiries"), pol.strip().replace(" ", "_"))' \
                                "$mode" "$r" "${policy:-?}" >>"$results" || echo "round $r $mode: no complete run parsed" >&2
                echo "round $r/$reps vcpu_idle=$mode: $(tail -1 "$results")" >&2
        done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
print(f"{'vcpu_idle':9} {'figure':32} {'median':>9} {'min':>9} {'max':>9} {'n':>3}")
for mode in ("yes", "no"):
    rs = [r for r in rows if r[0] == mode]
    for i, name, unit in ((2, "wake-up latency p50", "us"), (3, "wake-up latency p99", "us"), (4, "wake-up latency max", "us"),
                          (5, "wake-ups", ""), (6, "missed expiries", "")):
        v = [float(r[i]) for r in rs if r[i] not in ("None", "?")]
        if v:
            print(f"{mode:9} {name:32} {statistics.median(v):9.1f} {min(v):9.1f} {max(v):9.1f} {len(v):3d}  {unit}")
    if rs:
        print(f"{mode:9} {'lo threads by policy (NxPOLICY)':32} {rs[-1][7]}")
PY
