#!/bin/bash
# `make demo`: paper 002's case on two small guests.
# VM "web" runs WEB (lighttpd), VM "db" runs DB (postgres) and BACKUP (tar),
# all CPU-bound and sharing one core.  Wanted: DB > WEB > BACKUP, BACKUP only
# when the others are idle.  The demo measures each task's CPU share without
# xvsched (observe only) and with `xvsched run examples/web-db-backup.conf`,
# prints both as a table and draws the timeline.  Everything is undone at the
# end (the daemon restores what it changed; the guests are stopped).
set -euo pipefail

build=${1:-build}
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$repo" && cd "$build" && pwd)
X="$build/src/cli/xvsched"
run=$(mktemp -d /tmp/xvsched-demo.XXXXXX)
out=${XV_DEMO_OUT:-$repo/demo-out}
export XV_BUILD=$build XV_RUN=$run/vm XVSCHED_STATE_DIR=$run/state
vm() { "$repo/tools/vm/vm" --dir "$XV_RUN" "$@"; }
secs=${XV_DEMO_SECONDS:-10}

if [ "$(id -u)" != 0 ]; then
        echo "demo: run as root (it boots VMs and writes cgroups)" >&2
        exit 1
fi
daemon=
cleanup() {
        [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
        "$X" -b qmp reset --all >/dev/null 2>&1 || true
        vm stop-all >/dev/null 2>&1 || true
        rm -rf "$run"
}
trap cleanup EXIT INT TERM

mk='mk(){ printf "#!/bin/sh\nwhile :; do :; done\n" >/tmp/$1; chmod +x /tmp/$1; /tmp/$1 & };'
echo "== booting guests web and db ($(vm accel)) with the xvagent channel"
vm start --name web --mem 128 --agent --stay --cmd "$mk mk lighttpd; sleep 100000" >/dev/null
vm start --name db --mem 128 --agent --stay --cmd "$mk mk postgres; mk tar; sleep 100000" >/dev/null
vm wait web >/dev/null
vm wait db >/dev/null

echo
echo "== xvsched list"
"$X" -b qmp list

# The rules, with both guests on CPU 0 so that they compete for one core.
conf=$run/demo.conf
sed -e 's/^\[domain web\]$/[domain web]\ncpus = 0/' -e 's/^\[domain db\]$/[domain db]\ncpus = 0/' \
        "$repo/examples/web-db-backup.conf" >"$conf"
"$X" -b qmp set web cpus=0 >/dev/null
"$X" -b qmp set db cpus=0 >/dev/null

# run_for SECONDS TIMELINE [ARGS]: the daemon for a while; prints its timeline's
# mean CPU % per task (steal-corrected, as the host gave it).
run_for() {
        local secs=$1 tl=$2
        shift 2
        "$X" -b qmp run "$conf" --timeline "$tl" "$@" >"$run/daemon.log" 2>&1 &
        daemon=$!
        sleep "$secs"
        kill -TERM "$daemon"
        wait "$daemon" || { cat "$run/daemon.log" >&2; exit 1; }
        daemon=
        python3 - "$tl" <<'PY'
import json, sys
ticks = [json.loads(l) for l in open(sys.argv[1])]
ticks = ticks[len(ticks) // 4:]          # the first quarter settles
cpu = {}
for t in ticks:
    for x in t["tasks"]:
        cpu.setdefault(x["task"], []).append(x["cpu_pct"])
print(" ".join(f"{k}={sum(v) / len(v):.1f}" for k, v in cpu.items()))
PY
}

echo
echo "== $secs s without xvsched (observing only: --dry-run) ..."
without=$(run_for "$secs" "$run/without.jsonl" --dry-run)
"$X" -b qmp reset --all >/dev/null   # the daemon pins by itself
echo "== $secs s with xvsched run examples/web-db-backup.conf ..."
with=$(run_for "$secs" "$run/with.jsonl")

echo
python3 - "$without" "$with" <<'PY'
import sys
b = dict(kv.split("=") for kv in sys.argv[1].split())
a = dict(kv.split("=") for kv in sys.argv[2].split())
rows = [("db", "db", "postgres", "DB, priority 80"), ("web", "web", "lighttpd", "WEB, priority 60"),
        ("backup", "db", "tar", "BACKUP, idle class")]
print(f"{'task':<8} {'VM':<4} {'process':<9} {'rule':<19} {'CPU % without':>14} {'CPU % with':>11}")
for t, vm, p, rule in rows:
    print(f"{t:<8} {vm:<4} {p:<9} {rule:<19} {float(b[t]):>14.1f} {float(a[t]):>11.1f}")
PY
mkdir -p "$out"
echo
echo "== xvsched timeline (with xvsched)"
"$X" timeline "$run/with.jsonl" --svg "$out/timeline.svg"
echo
echo "The daemon restored every value it changed when it stopped; xvsched reset --all"
echo "then undid the demo's own pinning: $("$X" -b qmp reset --all)."
