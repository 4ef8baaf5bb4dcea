#!/usr/bin/env bash
# Soak of agentless control through guest kernel calls (docs/agentless.md):
# a busybox guest with no agent (2 vCPUs, TCG or KVM), a CPU-bound guest
# process, optional host load; N stop/resume cycles (SIGSTOP injected while
# the VM is paused, resumed by send_sig(SIGCONT) called through QEMU's
# gdbstub: vmi-ctl cycles, which checks every stop froze the task and every
# resume let it run) and M renice cycles (xvsched nice --via vmi: set_user_nice
# through the gdbstub, the guest's own /proc/PID/stat read back on its
# console, restored at the end of each hold).  Prints the VM-stopped time per
# guest kernel call (median, max), failures and the console's oopses.
#
#   scripts/soak-kcall.sh [STOP_CYCLES [NICE_CYCLES]]   (defaults 1000 20)
#   XV_BUILD=build XV_IMAGE=build/guest SOAK_LOAD=1 (stress-ng --cpu 1 beside)
#   SOAK_MAX_S=SECONDS: start no stop/resume chunk after that long
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${XV_BUILD:-$SRC/build}
export XV_IMAGE=${XV_IMAGE:-$BUILD/guest}
N=${1:-1000}
M=${2:-20}
RUN=$(mktemp -d /tmp/soak-kcall.XXXXXX)
export XV_RUN=$RUN XVSCHED_STATE_DIR=$RUN/state
mkdir -p "$XVSCHED_STATE_DIR"
vm() { "$SRC/tools/vm/vm" --dir "$RUN" "$@"; }
CTL=$BUILD/tools/ctl/vmi-ctl
X=$BUILD/src/cli/xvsched
load=
cleanup() { [ -n "$load" ] && kill "$load" 2>/dev/null; vm stop-all >/dev/null 2>&1 || true; }
trap cleanup EXIT
if [ "${SOAK_LOAD:-1}" = 1 ] && command -v stress-ng >/dev/null; then
        stress-ng --cpu 1 --timeout 0 >/dev/null 2>&1 &
        load=$!
fi
vm start --name sk --cpus 2 --mem 256 --stay --cmd 'sh -c "while :; do :; done" & bp=$!; echo BUSY $bp
sleep 100000 & echo SLEEPER $!
while :; do echo "MON $(cut -d" " -f3,19 /proc/$bp/stat)"; sleep 0.2; done' >/dev/null
vm wait sk
pid=$(vm pid sk)
console=$(vm console sk)
busy=""
for _ in $(seq 50); do
        busy=$(tr -d '\r' <"$console" | awk '/^BUSY/ { print $2; exit }')
        [ -n "$busy" ] && break
        sleep 0.2
done
echo "guest: qemu pid $pid, busy loop $busy, accel $(vm list | awk '$1 == "sk" { print $5 }')"

# in chunks of 50 (vmi-ctl stops at a chunk's first failure: the failure is
# counted with its message, the next chunk goes on)
t0=$(date +%s)
fail=0 done=0 frozen=0
: >"$RUN/cycles.err"
while ((done < N)); do
        if [ -n "${SOAK_MAX_S:-}" ] && (($(date +%s) - t0 > SOAK_MAX_S)); then
                echo "time limit SOAK_MAX_S=$SOAK_MAX_S reached after $done cycles"
                break
        fi
        k=$((N - done < 50 ? N - done : 50))
        if VMI_CTL_DEBUG=1 "$CTL" --pid "$pid" --qmp "$RUN/sk.qmp" --hold-ms 5 cycles "$busy" "$k" \
                >"$RUN/cycles.out" 2>>"$RUN/cycles.err"; then :; else
                fail=$((fail + 1))
                echo "chunk at cycle $done failed: $(grep 'vmi-ctl:' "$RUN/cycles.err" | tail -1)"
        fi
        f=$(sed -n 's/^cycles n=[0-9]* frozen=\([0-9]*\) .*/\1/p' "$RUN/cycles.out")
        frozen=$((frozen + ${f:-0}))
        done=$((done + k))
done
echo "stop/resume: $N cycles asked, $done run, $frozen completed and checked (frozen while stopped, running after the resume), $fail chunks failed, $(($(date +%s) - t0)) s"

# renice: each cycle sets nice 5 for 0.3 s (the guest reads it back) and restores 0
nfail=0
for ((i = 0; i < M; i++)); do
        "$X" -v -b qmp nice sk "$busy" 5 --via vmi --for 0.3 >>"$RUN/nice.out" 2>>"$RUN/nice.err" || nfail=$((nfail + 1))
done
echo "renice: $M cycles (set and restore: $((2 * M)) calls), $nfail failed"
last=$(tr -d '\r' <"$console" | grep '^MON' | tail -1)
sleep 1
seen5=$(tr -d '\r' <"$console" | grep -c '^MON [RST] 5$' || true)
echo "guest saw nice 5 in $seen5 samples; last sample now: $(tr -d '\r' <"$console" | grep '^MON' | tail -1) (before: $last)"
tr -d '\r' <"$console" | grep '^MON' | tail -1 | grep -q ' 0$' || { echo "nice not restored to 0 at the end"; nfail=$((nfail + 1)); }

# VM-stopped time per guest kernel call (the view's debug line)
cat "$RUN/cycles.err" "$RUN/nice.err" | sed -n 's/.*kcall .* VM stopped \([0-9]*\) us (\([0-9]*\) us in the stub), ran \([0-9]*\) us until a vCPU left hlt and \([0-9]*\) us in the call, \([0-9]*\) step-overs; gdbstub setup \([0-9]*\) us, teardown \([0-9]*\) us.*/\1 \2 \3 \4 \5 \6 \7/p' >"$RUN/kcalls"
python3 - "$RUN/kcalls" <<'PY'
import statistics, sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    print("no guest kernel calls recorded"); sys.exit()
def s(i, name):
    v = sorted(r[i] for r in rows)
    print(f"  {name:38s} median {statistics.median(v)/1000:8.2f} ms  max {v[-1]/1000:8.2f} ms")
print(f"guest kernel calls: {len(rows)}")
s(0, "VM stopped per call (whole action)")
s(1, "  of it inside the gdbstub session")
s(2, "running, until a vCPU left hlt")
s(3, "running, the call itself")
s(5, "  gdbstub start + connect (stopped)")
s(6, "  gdbstub close + stop (stopped)")
print(f"  step-overs (other vCPUs at the breakpoint): {sum(r[4] for r in rows)}")
PY
st=$(vm qmp sk '{"execute":"query-status"}')
echo "VM run state at the end: $(echo "$st" | grep -o '"status": *"[a-z-]*"')"
oops=$(tr -d '\r' <"$console" | grep -cE 'Oops|BUG|WARNING|Call Trace|rcu.*stall|panic' || true)
echo "console: $oops oops/BUG/WARNING/RCU-stall lines; failures: stop/resume $fail, renice $nfail"
[ "$fail" = 0 ] && [ "$nfail" = 0 ] && [ "$oops" = 0 ]
