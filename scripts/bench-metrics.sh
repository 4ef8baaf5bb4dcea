#!/bin/bash
# What the Prometheus metrics cost the daemon (issue 14, docs/metrics.md):
# the same loop with `metrics` off, on and scraped once a second, and on and
# scraped 20 times a second; for 1 and 20 domains at 100 ms and 10 ms.
# Per tick: observe/decide/act (the timeline's "cost") and the snapshot's
# publish (xvsched_metrics_publish_seconds_total over xvsched_ticks_total);
# the daemon's CPU (all its threads, the HTTP server's too); a scrape's
# size and time (curl).
#
# Domains are host processes (mostly idle) with an xvagent each (local backend), as in
# scripts/bench-daemon.sh, so the figures are the daemon's own.  Run as root:
#     scripts/bench-metrics.sh [BUILD_DIR]      (default: build)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
X=$build/src/cli/xvsched
AGENT=$build/agent/xvagent
secs=${XV_BENCH_SECONDS:-8}
dir=$(mktemp -d /tmp/xvsched-bench-metrics.XXXXXX)
export XVSCHED_STATE_DIR=$dir/state
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$dir"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench-metrics: run as root" >&2; exit 1; }
[ -x "$AGENT" ] || { echo "bench-metrics: $AGENT not built" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench-metrics: needs curl" >&2; exit 1; }

# sleeper NAME: a mostly idle process whose comm is NAME (20 CPU-bound ones
# would measure the machine's load, not the daemon)
sleeper() {
        printf '#!/bin/sh\nwhile :; do sleep 0.5; done\n' >"$dir/$1"
        chmod +x "$dir/$1"
        "$dir/$1" >/dev/null 2>&1 &
        BURNER=$!
        pids+=("$BURNER")
}
agent() { # SOCKET
        "$AGENT" --listen "unix:$1" >/dev/null 2>&1 &
        pids+=($!)
        for _ in $(seq 50); do [ -S "$1" ] && return 0; sleep 0.1; done
        echo "bench-metrics: agent did not come up" >&2; exit 1
}
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
hz=$(getconf CLK_TCK)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# scraper PERIOD: GET /metrics every PERIOD s; curl's times appended to $dir/scrapes
scraper() {
        while :; do
                curl -s -o "$dir/last.txt" -w '%{size_download} %{time_total}\n' -m 5 "http://127.0.0.1:$port/metrics" \
                        >>"$dir/scrapes" 2>/dev/null || true
                sleep "$1"
        done
}

# run_daemon CONF INTERVAL MODE -> one table row's figures
run_daemon() {
        local conf=$1 interval=$2 mode=$3 tl=$dir/tl.jsonl c=$dir/run.conf
        rm -f "$tl" "$dir/scrapes" "$dir/last.txt"
        cp "$conf" "$c"
        [ "$mode" = off ] || sed -i "1i [daemon]\nmetrics = 127.0.0.1:$port" "$c"
        "$X" "${largs[@]}" -b local run "$c" --interval "${interval}ms" --timeline "$tl" >"$dir/daemon.log" 2>&1 &
        local dpid=$! spid=
        sleep 2
        case $mode in
        1/s) scraper 1 & spid=$! ;;
        20/s) scraper 0.05 & spid=$! ;;
        esac
        local c0 t0 c1 t1
        c0=$(cpu_ticks $dpid); t0=$(date +%s%N)
        sleep "$secs"
        c1=$(cpu_ticks $dpid); t1=$(date +%s%N)
        [ -z "$spid" ] || { kill "$spid"; wait "$spid" 2>/dev/null || true; }
        [ "$mode" = off ] || curl -s -m 5 "http://127.0.0.1:$port/metrics" >"$dir/last.txt" || true
        kill -TERM $dpid; wait $dpid || true
        [ -s "$tl" ] || { echo "bench-metrics: the daemon wrote no timeline: $(tail -3 "$dir/daemon.log")" >&2; return 1; }
        python3 - "$tl" "$c0" "$c1" "$t0" "$t1" "$hz" "$dir/last.txt" "$dir/scrapes" <<'PY'
import json, os, sys
tl, c0, c1, t0, t1, hz, last, scrapes = sys.argv[1], *map(int, sys.argv[2:7]), sys.argv[7], sys.argv[8]
ticks = [json.loads(l) for l in open(tl)][20:]
n = max(len(ticks), 1)
o = sum(t["cost"]["observe_us"] for t in ticks) / n
d = sum(t["cost"]["decide_us"] for t in ticks) / n
a = sum(t["cost"]["act_us"] for t in ticks) / n
cpu = (c1 - c0) / hz / ((t1 - t0) / 1e9) * 100
pub = "-"
if os.path.exists(last):
    m = {}
    for l in open(last):
        if not l.startswith("#") and " " in l:
            k, v = l.rsplit(" ", 1)
            m[k] = float(v)
    if m.get("xvsched_ticks_total"):
        pub = f'{m["xvsched_metrics_publish_seconds_total"] / m["xvsched_ticks_total"] * 1e6:.1f}'
size = ms = "-"
if os.path.exists(scrapes):
    rows = [l.split() for l in open(scrapes) if len(l.split()) == 2 and int(l.split()[0]) > 0]
    if rows:
        size = rows[-1][0]
        ts = sorted(float(r[1]) * 1000 for r in rows)
        ms = f"{ts[len(ts) // 2]:.1f} (n={len(ts)})"
print(f"{o:.0f} | {d:.1f} | {a:.0f} | {pub} | {cpu:.2f} | {size} | {ms}")
PY
}

echo "## Metrics off vs on (host processes as domains, one xvagent each; ${secs} s each; load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| domains | interval | metrics | observe µs | decide µs | act µs | publish µs/tick | daemon CPU % | scrape bytes | scrape ms (median) |"
echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
for n in 1 20; do
        conf=$dir/n$n.conf
        : >"$conf"
        largs=()
        for i in $(seq "$n"); do
                sleeper "w$i"
                agent "$dir/a$i.sock"
                largs+=(-l "d$i=pid:$BURNER,agent=$dir/a$i.sock")
                printf '[domain d%s]\n[task w%s]\ndomain = d%s\ncomm = w%s\npriority = %s\n' "$i" "$i" "$i" "$i" $((30 + i)) >>"$conf"
        done
        for iv in 100 10; do
                for mode in off 1/s 20/s; do
                        case $mode in
                        off) label=off ;;
                        *) label="on, scraped $mode" ;;
                        esac
                        echo "| $n | $iv ms | $label | $(run_daemon "$conf" "$iv" "$mode") |"
                done
        done
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        pids=()
done
