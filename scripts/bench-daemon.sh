#!/bin/bash
# The policy loop's overhead, measured (issue 5): per-tick cost split into
# observe, decide and act for 1, 5 and 20 domains; the daemon's CPU use at
# 10 ms and 100 ms; the foreground slowdown it causes (paper 002 §5.2: 0.8 %)
# and how it depends on the interval (§5.3).
#
# Domains here are host processes with an xvagent each (local backend,
# "NAME=pid:PID,agent=SOCKET"), so the numbers are the daemon's own costs
# without TCG's emulation in the way.  Run as root:
#     scripts/bench-daemon.sh [BUILD_DIR]      (default: build)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
X=$build/src/cli/xvsched
AGENT=$build/agent/xvagent
secs=${XV_BENCH_SECONDS:-10}
dir=$(mktemp -d /tmp/xvsched-bench.XXXXXX)
export XVSCHED_STATE_DIR=$dir/state
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$dir"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench-daemon: run as root" >&2; exit 1; }
[ -x "$AGENT" ] || { echo "bench-daemon: $AGENT not built" >&2; exit 1; }

# burner NAME: start a CPU-bound process whose comm is NAME; its pid in BURNER.
burner() {
        printf '#!/bin/sh\nwhile :; do :; done\n' >"$dir/$1"
        chmod +x "$dir/$1"
        "$dir/$1" >/dev/null 2>&1 &
        BURNER=$!
        pids+=("$BURNER")
}
agent() { # SOCKET
        "$AGENT" --listen "unix:$1" >/dev/null 2>&1 &
        pids+=($!)
        for _ in $(seq 50); do [ -S "$1" ] && return 0; sleep 0.1; done
        echo "bench-daemon: agent did not come up" >&2; exit 1
}
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
hz=$(getconf CLK_TCK)

# run_daemon CONF INTERVAL SECONDS -> "observe_us decide_us act_us daemon_cpu_pct"
run_daemon() {
        local conf=$1 interval=$2 s=$3 tl=$dir/tl.jsonl
        rm -f "$tl"
        "$X" "${largs[@]}" -b local run "$conf" --interval "${interval}ms" --timeline "$tl" >"$dir/daemon.log" 2>&1 &
        local dpid=$!
        sleep 2
        local c0; c0=$(cpu_ticks $dpid); local t0; t0=$(date +%s%N)
        sleep "$s"
        local c1; c1=$(cpu_ticks $dpid); local t1; t1=$(date +%s%N)
        kill -TERM $dpid; wait $dpid || true
        python3 - "$tl" "$c0" "$c1" "$t0" "$t1" "$hz" <<'PY'
import json, sys
tl, c0, c1, t0, t1, hz = sys.argv[1], *map(int, sys.argv[2:])
ticks = [json.loads(l) for l in open(tl)][20:]
n = max(len(ticks), 1)
o = sum(t["cost"]["observe_us"] for t in ticks) / n
d = sum(t["cost"]["decide_us"] for t in ticks) / n
a = sum(t["cost"]["act_us"] for t in ticks) / n
cpu = (c1 - c0) / hz / ((t1 - t0) / 1e9) * 100
print(f"{o:.0f} {d:.1f} {a:.0f} {cpu:.2f}")
PY
}

# --- 1. per-tick cost and daemon CPU for 1, 5, 20 domains ------------------
echo "## Per-tick cost and daemon CPU (host processes as domains, one xvagent each)"
echo
echo "| domains | interval | observe µs | decide µs | act µs | daemon CPU % |"
echo "|---:|---:|---:|---:|---:|---:|"
for n in 1 5 20; do
        conf=$dir/n$n.conf
        : >"$conf"
        largs=()
        for i in $(seq "$n"); do
                burner "w$i"
                agent "$dir/a$i.sock"
                largs+=(-l "d$i=pid:$BURNER,agent=$dir/a$i.sock")
                printf '[domain d%s]\n[task w%s]\ndomain = d%s\ncomm = w%s\npriority = %s\n' "$i" "$i" "$i" "$i" $((30 + i)) >>"$conf"
        done
        for iv in 100 10; do
                read -r o d a cpu < <(run_daemon "$conf" "$iv" "$secs")
                echo "| $n | $iv ms | $o | $d | $a | $cpu |"
        done
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        pids=()
done

# --- 2. foreground slowdown, and the interval study ------------------------
echo
echo "## Foreground slowdown (fg and an idle-class bg on one CPU; paper 002 §5.2: 0.8 %)"
echo
cpu=$(($(nproc) - 1))
burner fg; fg=$BURNER; taskset -pc "$cpu" "$fg" >/dev/null
agent "$dir/fg.sock"
measure_fg() { # SECONDS -> fg's CPU % of one CPU
        local c0 c1 t0 t1
        c0=$(cpu_ticks "$fg"); t0=$(date +%s%N); sleep "$1"; c1=$(cpu_ticks "$fg"); t1=$(date +%s%N)
        python3 -c "print(round(($c1 - $c0) / $hz / (($t1 - $t0) / 1e9) * 100, 2))"
}
solo=$(measure_fg "$secs")
burner bg; bg=$BURNER; taskset -pc "$cpu" "$bg" >/dev/null
agent "$dir/bg.sock"
shared=$(measure_fg "$secs")
cat >"$dir/fgbg.conf" <<CONF
[domain fg]
[domain bg]
[task fg]
domain = fg
comm = fg
[task bg]
domain = bg
comm = bg
class = idle
CONF
largs=(-l "fg=pid:$fg,agent=$dir/fg.sock" -l "bg=pid:$bg,agent=$dir/bg.sock")
echo "| setting | fg CPU % | vs alone |"
echo "|---|---:|---:|"
echo "| fg alone | $solo | 100 % |"
echo "| fg + bg, no xvsched (equal priority) | $shared | $(python3 -c "print(round($shared / $solo * 100, 1))") % |"
for iv in 10 50 100 500; do
        "$X" "${largs[@]}" -b local run "$dir/fgbg.conf" --interval "${iv}ms" >"$dir/daemon.log" 2>&1 &
        dpid=$!
        sleep 3
        with=$(measure_fg "$secs")
        kill -TERM $dpid; wait $dpid || true
        echo "| fg + bg (idle class), xvsched every $iv ms | $with | $(python3 -c "print(round($with / $solo * 100, 1))") % |"
done
