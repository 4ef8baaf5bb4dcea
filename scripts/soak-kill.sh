#!/bin/bash
# Fault injection: kill the daemon with SIGKILL at random moments while it
# holds guest stops (agent view and vmi view), VM pauses (the vmi view
# pauses a VM to inject a stop) and lever changes, TRIALS times, with and
# without a restart.  After each kill:
#   - within GRACE seconds no guest process is stopped by xvsched and no VM
#     is paused (nothing restarted: the agent's lease and xvsched's guard
#     must undo it on their own);
#   - every third trial is followed by a restart (`xvsched run ... --ticks 3`,
#     which restores what the crash left, runs, and restores again on exit),
#     every third by `xvsched reset --all`, and the rest by nothing (the next
#     trial's start recovers); after a restart or reset every QEMU thread's
#     nice, policy, RT priority and affinity, each QEMU's cgroup placement
#     and the cgroup files xvsched touched are as they were before the first
#     trial, and no xvsched cgroup is left.
# Prints the counts; docs/policy.md records them with the command.
#
#   scripts/soak-kill.sh [BUILD_DIR] [TRIALS] [GRACE_S]      (as root)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
export XV_BUILD=$(cd "${1:-$src/build}" && pwd) XV_SRC=$src XV_TEST_NAME=soak-kill
trials=${2:-100}
grace=${3:-8}
. "$src/tests/lib/common.sh"
require_vm
. "$src/tests/lib/policy.sh"

# Each guest reports its idle-class task's state (field 3 of its stat) on
# the console twice a second: "MON NAME STATE".
mon='mon(){ while :; do for n in "$@"; do p=$(pidof $n | cut -d" " -f1); [ -n "$p" ] && echo "MON $n $(cut -d" " -f3 /proc/$p/stat)"; done; sleep 0.5; done; };'
# Names no other run shares (this shell's pid): a daemon that outlived an
# earlier, interrupted run (its config names that run's VMs) adopts a new
# QEMU of the same name as its own domain "restarted", and would stop this
# run's processes (docs/policy.md, "Fault injection").
ska=ska$$ skb=skb$$
vm start --name $ska --agent --stay --cmd "$GUEST_LIB $mon b fga; b bga; mon bga" >/dev/null
vm start --name $skb --agent --stay --cmd "$GUEST_LIB $mon b fgb; b bgb; mon bgb" >/dev/null
vm wait $ska
vm wait $skb

conf=$XV_TEST_DIR/soak.conf
cat >"$conf" <<CONF
[daemon]
interval = 100ms
[domain $ska]
match = $ska
view = agent
cpus = 0
weight = 300
[domain $skb]
match = $skb
view = vmi
cpus = 0
nice = 5
[task fga]
domain = $ska
comm = fga
priority = 50
[task bga]
domain = $ska
comm = bga
class = idle
[task fgb]
domain = $skb
comm = fgb
priority = 40
[task bgb]
domain = $skb
comm = bgb
class = idle
CONF

# snapshot: the host state xvsched may change, as one JSON line.
snapshot() {
        python3 - "$(vm pid $ska)" "$(vm pid $skb)" "$ska" "$skb" <<'PY'
import json, os, sys, glob
out = {}
for pid in sys.argv[1:3]:
    th = {}
    for t in sorted(os.listdir(f"/proc/{pid}/task")):
        try:
            st = open(f"/proc/{pid}/task/{t}/stat").read().rsplit(")", 1)[1].split()
            aff = os.sched_getaffinity(int(t))
        except (FileNotFoundError, ProcessLookupError):
            continue
        # nice (field 19), rt_priority (40), policy (41)
        th[t] = [int(st[16]), int(st[37]), int(st[38]), sorted(aff)]
    cg = open(f"/proc/{pid}/cgroup").read().split()
    knobs = {}
    for line in cg:
        _, ctrl, path = line.split(":", 2)
        for c in ctrl.split(","):
            for k in ("cpu.shares", "cpu.cfs_quota_us", "cpu.weight", "cpu.max", "cpuset.cpus", "cpuset.mems"):
                f = f"/sys/fs/cgroup/{c}{path}/{k}" if c else f"/sys/fs/cgroup{path}/{k}"
                if os.path.exists(f):
                    knobs[f] = open(f).read().strip()
    out[pid] = {"threads": th, "cgroup": cg, "knobs": knobs}
# xvsched's own groups for these domains (other tests' groups are not ours to judge)
out["xvsched_groups"] = sorted(g for g in glob.glob("/sys/fs/cgroup/*/xvsched-*") + glob.glob("/sys/fs/cgroup/xvsched-*")
                               if g.rsplit("xvsched-", 1)[1] in sys.argv[3:])
print(json.dumps(out, sort_keys=True))
PY
}

# stopped_now NAME TASK: the last MON line of TASK on NAME's console says T.
last_state() { tr -d '\r' <"$(vm console "$1")" | grep "^MON $2 " | tail -1 | cut -d' ' -f3; }
paused() { vm qmp "$1" '{"execute":"query-status"}' | grep -q '"running": *false'; }

# An interrupted run leaves no daemon behind (it would outlive the VMs and
# keep looking for domains of these names).
dpid=""
xv_on_exit '[ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null; true'

# Logs of the trials that fail outlive the test directory.
keep=$(mktemp -d /tmp/xvsoak-logs.XXXXXX)
before=$(snapshot)
n_kill=0 n_late=0 n_stopped_left=0 n_paused_left=0 n_restore_bad=0 n_restart=0 n_reset=0 n_held=0 n_die_in_pause=0 max_undo_ms=0 max_agent_ms=0 max_vmi_ms=0
for ((i = 1; i <= trials; i++)); do
        # Every fifth daemon dies by itself inside its first VM pause (the
        # test hook SIGKILLs it while the VM is paused), the others at a
        # random moment.
        if ((i % 5 == 0)); then
                XVSCHED_TEST_DIE_IN_PAUSE=1 "$X" -b qmp run "$conf" >"$XV_TEST_DIR/daemon.$i.log" 2>&1 &
                n_die_in_pause=$((n_die_in_pause + 1))
        else
                "$X" -b qmp run "$conf" >"$XV_TEST_DIR/daemon.$i.log" 2>&1 &
        fi
        dpid=$!
        # a random moment: 0.3 .. 4 s after the start
        sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 4.0), 2))')"
        held=no
        [ "$(last_state $ska bga)" = T ] || [ "$(last_state $skb bgb)" = T ] && held=yes
        kill -KILL "$dpid" 2>/dev/null || true
        # where each console stood at the kill: a failing trial's log marks it
        la=$(wc -l <"$(vm console $ska)") lb=$(wc -l <"$(vm console $skb)")
        wait "$dpid" 2>/dev/null || true
        dpid=""
        n_kill=$((n_kill + 1))
        [ $held = yes ] && n_held=$((n_held + 1))
        t0=$(date +%s%N)
        ok=no ta=0 tb=0
        for ((k = 0; k < grace * 10; k++)); do
                sleep 0.1
                # the MON lines come twice a second: a figure is up to 0.5 s late
                [ $ta = 0 ] && [ "$(last_state $ska bga)" != T ] && ta=$((($(date +%s%N) - t0) / 1000000))
                [ $tb = 0 ] && [ "$(last_state $skb bgb)" != T ] && tb=$((($(date +%s%N) - t0) / 1000000))
                if [ $ta != 0 ] && [ $tb != 0 ] && ! paused $skb && ! paused $ska; then
                        ok=yes
                        break
                fi
        done
        [ $ta -gt $max_agent_ms ] && max_agent_ms=$ta
        [ $tb -gt $max_vmi_ms ] && max_vmi_ms=$tb
        # the MON lines lag by up to 0.5 s: confirm once more after they refresh
        sleep 0.6
        if [ $ok = yes ] && { [ "$(last_state $ska bga)" = T ] || [ "$(last_state $skb bgb)" = T ]; }; then ok=no; fi
        ms=$((($(date +%s%N) - t0) / 1000000))
        [ $ms -gt $max_undo_ms ] && max_undo_ms=$ms
        if [ $ok = no ]; then
                # Left: still stopped or paused now.  Late: all running now,
                # but not seen so within the grace (a starved guest prints
                # its state late; the figures above say by how much).
                what=late
                if paused $ska || paused $skb; then n_paused_left=$((n_paused_left + 1)) what=left; fi
                if [ "$(last_state $ska bga)" = T ] || [ "$(last_state $skb bgb)" = T ]; then
                        n_stopped_left=$((n_stopped_left + 1)) what=left
                fi
                [ $what = late ] && n_late=$((n_late + 1))
                echo "trial $i: $what: not all seen running and unpaused ${grace} s after the kill (now bga $(last_state $ska bga), bgb $(last_state $skb bgb)); logs in $keep" >&2
                cp "$XV_TEST_DIR/daemon.$i.log" "$keep/" 2>/dev/null || true
                # the console from 40 lines before the kill, the kill marked
                tr -d '\r' <"$(vm console $ska)" | awk -v k="$la" 'NR > k - 40 { print } NR == k { print "---- SIGKILL (soak) ----" }' >"$keep/ska.console.$i"
                tr -d '\r' <"$(vm console $skb)" | awk -v k="$lb" 'NR > k - 40 { print } NR == k { print "---- SIGKILL (soak) ----" }' >"$keep/skb.console.$i"
        fi
        case $((i % 3)) in
        0)
                n_restart=$((n_restart + 1))
                "$X" -b qmp run "$conf" --ticks 3 >"$XV_TEST_DIR/restart.$i.log" 2>&1 ||
                        echo "trial $i: restart failed: $(tail -2 "$XV_TEST_DIR/restart.$i.log")" >&2 ;;
        1)
                n_reset=$((n_reset + 1))
                "$X" -b qmp reset --all >"$XV_TEST_DIR/reset.$i.log" 2>&1 ||
                        echo "trial $i: reset --all failed: $(tail -2 "$XV_TEST_DIR/reset.$i.log")" >&2 ;;
        *) continue ;;
        esac
        after=$(snapshot)
        if ! diffs=$(python3 - "$before" "$after" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
bad = []
def walk(x, y, p=""):
    if isinstance(x, dict) and isinstance(y, dict):
        keys = set(x) | set(y)
        if p.endswith("/threads"):
            keys = set(x) & set(y)   # QEMU's worker threads come and go
        for k in sorted(keys):
            walk(x.get(k), y.get(k), f"{p}/{k}")
    elif x != y:
        bad.append(f"  {p}: {x} -> {y}")
walk(a, b)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
        ); then
                n_restore_bad=$((n_restore_bad + 1))
                echo "trial $i: host state differs after restore:" >&2
                echo "$diffs" >&2
        fi
done
"$X" -b qmp reset --all >/dev/null 2>&1 || true
echo "soak: $trials trials, $n_kill kills ($n_held while a guest task was held stopped, $n_die_in_pause inside a VM pause), grace $grace s"
echo "soak: left stopped after the grace: $n_stopped_left; left paused: $n_paused_left; running again, but seen so only after the grace: $n_late"
echo "soak: slowest resume seen on the guest console after the kill: agent view (lease) ${max_agent_ms} ms, vmi view (guard) ${max_vmi_ms} ms; slowest trial until all was checked ${max_undo_ms} ms"
echo "soak: restores checked: $((n_restart + n_reset)) ($n_restart restarts, $n_reset reset --all); not as before: $n_restore_bad"
[ $n_stopped_left = 0 ] && [ $n_paused_left = 0 ] && [ $n_restore_bad = 0 ]
