#!/bin/bash
# `make demo`: three small guests running a CPU-bound loop share one core;
# xvsched finds them, raises one guest's weight and caps another, and the
# table shows each guest's measured CPU share before and after.
# Everything is undone at the end (xvsched reset, guests stopped).
set -euo pipefail

build=${1:-build}
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$repo" && cd "$build" && pwd)
X="$build/src/cli/xvsched"
run=$(mktemp -d /tmp/xvsched-demo.XXXXXX)
export XV_BUILD=$build XV_RUN=$run XVSCHED_STATE_DIR=$run/state
vm() { "$repo/guest/vm" --dir "$run" "$@"; }

if [ "$(id -u)" != 0 ]; then
        echo "demo: run as root (it boots VMs and writes cgroups)" >&2
        exit 1
fi

cleanup() {
        "$X" -b qmp reset --all >/dev/null 2>&1 || true
        vm stop-all >/dev/null 2>&1 || true
        rm -rf "$run"
}
trap cleanup EXIT INT TERM

guests=(web db backup)
echo "== booting ${#guests[@]} guests ($(vm accel)), each running a CPU-bound loop"
for g in "${guests[@]}"; do
        vm start --name "$g" --mem 96 --cmd 'while :; do :; done' --stay >/dev/null
done
for g in "${guests[@]}"; do vm wait "$g" >/dev/null; done

echo
echo "== xvsched list"
"$X" -b qmp list

# All three on CPU 0, so that they compete for one core, each in a cgroup of
# its own at the default weight (raw QEMU processes start in the root group).
for g in "${guests[@]}"; do "$X" -b qmp set "$g" cpus=0 weight=100 >/dev/null; done

measure() { # -> "name pct" lines, over 4 s, for the three guests at once
        "$X" -b qmp list --json --window 4000 |
                python3 -c 'import json,sys
for d in json.load(sys.stdin): print(d["name"], round(d["cpu_pct"], 1))'
}

echo
echo "== measuring 4 s with equal settings ..."
before=$(measure)

echo "== xvsched set db weight=400        (4x the default 100)"
"$X" -b qmp set db weight=400
echo "== xvsched set backup cap=10        (at most 10 % of one CPU)"
"$X" -b qmp set backup cap=10
echo
echo "== measuring 4 s again ..."
after=$(measure)

echo
python3 - "$before" "$after" <<'PY'
import sys
b = dict(l.split() for l in sys.argv[1].splitlines())
a = dict(l.split() for l in sys.argv[2].splitlines())
print(f"{'guest':<8} {'levers':<22} {'CPU % before':>13} {'CPU % after':>12}")
lev = {"web": "weight 100", "db": "weight 400", "backup": "weight 100, cap 10 %"}
for g in ("web", "db", "backup"):
    print(f"{g:<8} {lev[g]:<22} {float(b[g]):>13.1f} {float(a[g]):>12.1f}")
PY
echo
echo "== xvsched reset --all (restores every original value)"
"$X" -b qmp reset --all
