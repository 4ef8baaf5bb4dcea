#!/usr/bin/env bash
# Soak of agentless control through guest kernel calls (issue 12,
# docs/agentless.md): a guest with no agent (2 vCPUs), a CPU-bound guest
# process as the target, host load beside.  Each cycle (tools/ctl/kcall-soak):
#   stop/resume: SIGSTOP injected while the VM is paused, the target reaches
#     T and its CPU time stops growing; send_sig(SIGCONT) called in the guest
#     kernel through QEMU's gdbstub, the target leaves T;
#   renice: set_user_nice 5 then 0 through the gdbstub, read back from the
#     guest's task_struct (vmi ps);
#   after each action: the VM runs (QMP query-status); after each half:
#   every other task's stop state and nice value are unchanged.
# At the end: the console (kernel messages at every level) for oops, BUG,
# WARNING, call traces and RCU stalls; the VM-stopped time per action
# (median, p95, max).
#
#   scripts/soak-kcall.sh [CYCLES]                 (default 1000)
#   SOAK_DEBIAN=DIR [SOAK_KERNEL=trixie]  the stock Debian guest of
#        tools/vm/mkdebian (systemd, qemu-guest-agent: used to start the
#        target, then stopped; from then on the only way in is vmi);
#        without it the busybox guest (XV_IMAGE, default $XV_BUILD/guest)
#   SOAK_RUN=DIR      run dir, kept (default: a fresh /tmp/soak-kcall.*);
#                     a guest "sk" already running there is reused
#   SOAK_LOAD=1       stress-ng --cpu 1 on the host beside (default 1)
#   SOAK_MAX_S=S      start no cycle after S seconds (the count run is printed)
#   XV_BUILD=DIR      the build (tools/ctl/kcall-soak, tools/ctl/vmi-ctl, src/cli/xvsched)
#   SOAK_RECORD=0     record no verdict (default: record it, below)
#   SOAK_ROUTES_DIR=DIR  where the verdict goes (default: the caller's
#                     $XVSCHED_STATE_DIR, else /run/xvsched; the run itself
#                     uses its own state directory)
# The verdict (docs/agentless.md, "Routes disabled per kernel"): on the
# release the guest kernel reports in its memory (xvsched list --routes),
# the route vmi-sigstop+gdbstub-kcall is disabled, with the failing counts
# as the reason, when a check failed (an action, another task changed, the
# VM not running, the end state, the console); ok, with the counts, when
# every asked cycle passed; nothing is recorded when fewer cycles ran than
# were asked (SOAK_MAX_S) without a failure.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${XV_BUILD:-$SRC/build}
export XV_IMAGE=${XV_IMAGE:-$BUILD/guest}
N=${1:-1000}
RUN=${SOAK_RUN:-$(mktemp -d /tmp/soak-kcall.XXXXXX)}
mkdir -p "$RUN/state"
RUN=$(cd "$RUN" && pwd)
ROUTES_DIR=${SOAK_ROUTES_DIR:-${XVSCHED_STATE_DIR:-/run/xvsched}}
export XV_RUN=$RUN XVSCHED_STATE_DIR=$RUN/state
vm() { "$SRC/tools/vm/vm" --dir "$RUN" "$@"; }
SOAK=$BUILD/tools/ctl/kcall-soak
CTL=$BUILD/tools/ctl/vmi-ctl
[ -x "$SOAK" ] && [ -x "$CTL" ] || { echo "soak-kcall: build $SOAK and $CTL first" >&2; exit 1; }
load=
cleanup() {
        [ -n "$load" ] && kill "$load" 2>/dev/null
        [ -n "${SOAK_RUN:-}" ] || vm stop-all >/dev/null 2>&1 || true
}
trap cleanup EXIT
if [ "${SOAK_LOAD:-1}" = 1 ] && command -v stress-ng >/dev/null; then
        stress-ng --cpu 1 --timeout 0 >/dev/null 2>&1 &
        load=$!
fi
# the stock Debian boot masks (tests/integration/stock-debian.sh) and every
# kernel message on the console (WARN splats are KERN_WARNING: hidden by quiet)
MASKS="systemd.mask=systemd-logind.service systemd.mask=serial-getty@ttyS0.service"
MASKS+=" systemd.mask=modprobe@drm.service systemd.mask=sys-kernel-debug.mount"
MASKS+=" systemd.mask=sys-kernel-tracing.mount systemd.mask=dev-hugepages.mount systemd.mask=dev-mqueue.mount"

running=$(vm list 2>/dev/null | awk '$1 == "sk" && $4 == "running" { print "yes" }')
if [ -n "${SOAK_DEBIAN:-}" ]; then
        if [ -z "$running" ]; then
                kopt=()
                [ -n "${SOAK_KERNEL:-}" ] && kopt=(--kernel "$SOAK_KERNEL")
                vm start --name sk --debian "$SOAK_DEBIAN" "${kopt[@]}" --cpus 2 --mem 1024 \
                        --append "$MASKS ignore_loglevel" >/dev/null
                vm wait sk --timeout 1200 >/dev/null
        fi
else
        [ -n "$running" ] || {
                vm start --name sk --cpus 2 --mem 256 --stay --append ignore_loglevel \
                        --cmd 'sh -c "while :; do :; done" & echo BUSY $!; sleep 100000 & echo SLEEPER $!' >/dev/null
                vm wait sk
        }
fi
pid=$(vm pid sk)
console=$(vm console sk)
busy=""
if [ -n "${SOAK_DEBIAN:-}" ]; then
        if [ -f "$RUN/busy" ]; then
                busy=$(cat "$RUN/busy")
        else
                # the target and a sleeper as transient services: they outlive
                # qemu-guest-agent (guest-exec's children die with its cgroup)
                vm exec sk -- /usr/bin/systemd-run --unit=xvsoak-busy /bin/sh -c 'while :; do :; done' >/dev/null
                vm exec sk -- /usr/bin/systemd-run --unit=xvsoak-sleep /bin/sleep 1000000 >/dev/null
                busy=$(vm exec sk -- /usr/bin/systemctl show -P MainPID xvsoak-busy | tr -dc 0-9)
                echo "$busy" >"$RUN/busy"
                echo "guest: $(vm exec sk -- /bin/uname -r)"
                # stop qemu-guest-agent: the stop runs 2 s later, from systemd,
                # so this guest-exec can still answer
                vm exec sk -- /usr/bin/systemd-run --on-active=2 --unit=xvsoak-qga-stop \
                        /usr/bin/systemctl stop qemu-guest-agent.service >/dev/null
                sleep 5
        fi
        # gone: QGA does not answer, and no qemu-ga task in the guest (vmi)
        gone=""
        for _ in $(seq 12); do
                vm qga sk '{"execute":"guest-ping"}' >/dev/null 2>&1 || { gone=yes; break; }
                sleep 5
        done
        [ -n "$gone" ] || { echo "soak-kcall: qemu-guest-agent still answers after 60 s" >&2; exit 1; }
        ps=$("$CTL" --pid "$pid" --qmp "$RUN/sk.qmp" ps)
        if echo "$ps" | awk -F'\t' '$7 == "qemu-ga"' | grep -q .; then
                echo "soak-kcall: qemu-ga still in the guest's task list" >&2
                exit 1
        fi
        echo "qemu-guest-agent: stopped (guest-ping unanswered; no qemu-ga among $(echo "$ps" | wc -l) guest threads, vmi ps)"
else
        for _ in $(seq 50); do
                busy=$(tr -d '\r' <"$console" | awk '/^BUSY/ { print $2; exit }')
                [ -n "$busy" ] && break
                sleep 0.2
        done
fi
[ -n "$busy" ] || { echo "soak-kcall: no target process in the guest" >&2; exit 1; }
echo "guest: qemu pid $pid, target pid $busy, accel $(vm list | awk '$1 == "sk" { print $5 }'), load $(cut -d' ' -f1-3 /proc/loadavg)"

t0=$(date +%s)
rc=0
KCALL_SOAK_DEBUG=1 "$SOAK" --pid "$pid" --qmp "$RUN/sk.qmp" --hold-ms 5 ${SOAK_MAX_S:+--max-s "$SOAK_MAX_S"} \
        "$busy" "$N" >"$RUN/cycles.out" 2>"$RUN/debug.err" || rc=$?
grep -v '^cycle [0-9]* stop/resume ok renice ok others_changed 0 ' "$RUN/cycles.out" | head -40 || true
echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg), $(($(date +%s) - t0)) s"

# VM-stopped time per action, from the view's debug lines between the
# tool's "soak: action" and "soak: end" markers: a guest kernel call's own
# line (the pause less the two phases in which the VM runs on purpose), else
# the pause itself (the SIGSTOP injection)
python3 - "$RUN/debug.err" <<'PY'
import re, statistics, sys
acts = {}
cur = None; pend = None; total = 0; kc = []
def flush():
    global pend, total
    if pend is not None:
        total += pend
        pend = None
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("soak: action "):
        cur = line.split()[2]; pend = None; total = 0
    elif line.startswith("soak: end") and cur:
        flush()
        if line.split()[2] == "0":
            acts.setdefault(cur, []).append(total)
        cur = None
    elif cur and (m := re.search(r"vmi view: VM paused (\d+) us", line)):
        flush(); pend = int(m.group(1))
    elif cur and (m := re.search(r"kcall .* VM stopped (\d+) us \((\d+) us in the stub\), ran (\d+) us until a vCPU left hlt and (\d+) us in the call, (\d+) step-overs; gdbstub setup (\d+) us, teardown (\d+) us", line)):
        pend = None
        v = list(map(int, m.groups())); total += v[0]; kc.append(v)
def pr(name, v):
    v = sorted(v)
    if not v:
        print(f"  {name:44s} none"); return
    p95 = v[min(len(v) - 1, int(0.95 * len(v)))]
    print(f"  {name:44s} n={len(v):5d} median {statistics.median(v)/1000:9.2f} ms  p95 {p95/1000:9.2f} ms  max {v[-1]/1000:9.2f} ms")
print("VM stopped per action (successful actions):")
for a, label in (("stop", "stop (SIGSTOP injection)"), ("cont", "resume (send_sig(SIGCONT) call)"),
                 ("nice", "renice to 5 (set_user_nice call)"), ("renice0", "renice back to 0 (set_user_nice call)")):
    pr(label, acts.get(a, []))
print("guest kernel calls: %d" % len(kc))
pr("  of the stop inside the gdbstub session", [r[1] for r in kc])
pr("  running, until a vCPU left hlt", [r[2] for r in kc])
pr("  running, the call itself", [r[3] for r in kc])
pr("  gdbstub start + connect (stopped)", [r[5] for r in kc])
pr("  gdbstub close + stop (stopped)", [r[6] for r in kc])
print("  step-overs (other vCPUs at the breakpoint): %d" % sum(r[4] for r in kc))
print("paper 002 (Xen): 14.84 us pause+resume + 68.95 us translation + 13.72 us map+unmap per guest-memory access; goal of issue 12: < 5 ms per action")
PY
tail -1 "$RUN/cycles.out"
st=$(vm qmp sk '{"execute":"query-status"}')
echo "VM run state at the end: $(echo "$st" | grep -o '"status": *"[a-z-]*"')"
echo "$st" | grep -q '"running": *true' || rc=1
oops=$(tr -d '\r' <"$console" | grep -E 'Oops|BUG:|kernel BUG|WARNING:|cut here|Call Trace|rcu.*stall|RCU.*stall|Kernel panic|soft lockup|hung_task|blocked for more than' || true)
echo "console: $(printf '%s' "$oops" | grep -c . || true) oops/BUG/WARNING/call-trace/RCU-stall lines ($(wc -l <"$console") lines in all, $console)"
[ -z "$oops" ] || { echo "$oops" | head -20; rc=1; }

# the verdict for this kernel (see the top)
record_verdict() {
        local x=$BUILD/src/cli/xvsched line rel fails k v verdict why
        line=$(tail -1 "$RUN/cycles.out")
        [[ $line == "soak cycles="* ]] || { echo "soak-kcall: no counts from kcall-soak: no verdict recorded"; return 0; }
        rel=$("$x" -b qmp list --routes --json 2>/dev/null | python3 -c 'import json,sys
for d in json.load(sys.stdin):
    if d["pid"] == int(sys.argv[1]):
        print((d.get("agentless_route") or {}).get("kernel") or "")' "$pid" || true)
        [ -n "$rel" ] || { echo "soak-kcall: the guest kernel release is not readable: no verdict recorded"; return 0; }
        fails=""
        for kv in ${line#soak }; do
                k=${kv%%=*} v=${kv#*=}
                case $k in
                stop_resume_fail | renice_fail | others_changed | vm_not_running | snapshot_fail)
                        [ "$v" = 0 ] || fails+="$kv " ;;
                end_running) [ "$v" = yes ] || fails+="$kv " ;;
                esac
        done
        [ "$vm_ok" = yes ] || fails+="vm_running_at_end=no "
        [ -z "$oops" ] || fails+="console_problem_lines=$(printf '%s\n' "$oops" | grep -c .) "
        local counts
        counts=$(echo "$line" | grep -o 'cycles=[0-9]* asked=[0-9]*' || true)
        if [ -n "$fails" ]; then
                verdict=disable why="soak-kcall failed: ${fails}($counts)"
        elif [ "$rc" = 0 ]; then
                verdict=enable why="soak-kcall passed: $counts, no failure"
        else
                echo "soak-kcall: $counts without a failure: no verdict recorded"
                return 0
        fi
        why=$(printf '%s' "$why" | tr -cd '[:print:]' | cut -c1-256)
        "$x" --state-dir "$ROUTES_DIR" route "$verdict" vmi-sigstop+gdbstub-kcall "$rel" --why "$why" \
                --source soak-kcall || echo "soak-kcall: recording the verdict failed"
}
vm_ok=no
echo "$st" | grep -q '"running": *true' && vm_ok=yes
[ "${SOAK_RECORD:-1}" = 0 ] || record_verdict
echo "soak-kcall: $( [ "$rc" = 0 ] && echo PASS || echo FAIL ) (run dir $RUN)"
exit "$rc"
