#!/bin/bash
# Paper 002 §5.2 on real guests: a CPU-bound foreground task in guest ifg
# and an idle-class CPU-bound task in guest ibg share one core.  With
# xvsched the foreground keeps far more than the half of its solo
# throughput it would keep at equal priority (>= 75 %; 99 % on a quiet
# machine); when the foreground sleeps, the background is resumed and runs
# again (>= 35 % of a core, ~97 % on a quiet machine, ~0 if it stayed
# stopped; not asserted when other host work took over 40 % of CPU 0, to
# which its vCPUs at SCHED_IDLE yield).  The bounds
# hold beside `stress-ng --cpu 1`; the figures come from
# scripts/bench-policy.sh and live in docs/policy.md.
# Interval 500 ms, the paper's default.
#
# Host SCHED_IDLE (issue 12): while only the idle-class task keeps ibg busy,
# ibg's vCPU threads are at the host's SCHED_IDLE (policy 5 in
# /proc/PID/task/TID/stat, `xvsched status` RT column "idle"); while the
# foreground burns and the background is stopped they are normal again;
# SIGTERM restores them; after kill -9 they stay SCHED_IDLE (journaled) until
# the next start restores them.
#
# cpu.idle (issue 12): on a host whose cpu controller has cpu.idle (v1 here),
# ibg's QEMU is put in a cgroup of its own made by the test (as a libvirt
# machine group would be).  `set ibg idle=yes` makes its cpu.idle 1, `show`
# reads it back, `reset` puts 0 back; `set ifg idle=yes` (ifg in the root
# cgroup, shared with the host) is refused in one line with the state file
# byte-identical.  The daemon sets that cpu.idle with the vCPUs' SCHED_IDLE
# and puts it back with them (leaving the class, SIGTERM, the next start
# after kill -9).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_vm
. "$(dirname "$0")/../lib/policy.sh"

# The foreground burns once, 25 s, then sleeps.  It starts when the host
# resumes its `gate` (a script that stops itself) through the agent, before
# the daemon holds the agent's port: no phase is waited for longer than the
# test needs it.
vm start --name ifg --pvh --agent --stay --cmd "$GUEST_LIB mk work
printf '#!/bin/sh\nkill -STOP \$\$\n' >/tmp/gate; chmod +x /tmp/gate
/tmp/gate; echo FG-BURN; timeout 25 /tmp/work; echo FG-SLEEP; sleep 100000" >/dev/null
vm start --name ibg --pvh --agent --stay --cmd "$GUEST_LIB b backup; sleep 100000" >/dev/null
vm wait ifg
vm wait ibg

idle_cg=
if [ -f /sys/fs/cgroup/cpu/cpu.idle ]; then
        idle_cg=/sys/fs/cgroup/cpu/xvtest-ibg-$$
        pbg=$(vm pid ibg)
        mkdir "$idle_cg"
        xv_on_exit "echo $pbg >/sys/fs/cgroup/cpu/cgroup.procs 2>/dev/null; rmdir $idle_cg 2>/dev/null"
        echo "$pbg" >"$idle_cg/cgroup.procs"
        "$X" set ibg idle=yes >/dev/null
        assert_eq 1 "$(cat "$idle_cg/cpu.idle")" "set ibg idle=yes: cpu.idle of its own cgroup"
        assert_eq True "$("$X" show ibg --json --window 50 | python3 -c 'import json,sys; print(json.load(sys.stdin)["levers"]["idle"])')" \
                "show reads idle back"
        "$X" reset ibg >/dev/null
        assert_eq 0 "$(cat "$idle_cg/cpu.idle")" "reset puts cpu.idle 0 back"
        # The journal keeps the first original where it was first changed:
        # newest first, reset met the weight while the group was still idle
        # (the kernel refuses cpu.shares there) and failed; a second pass
        # over what failed restores it.
        shares0=$(cat "$idle_cg/cpu.shares")
        "$X" set ibg idle=yes >/dev/null && "$X" set ibg idle=no >/dev/null &&
                "$X" set ibg weight=200 >/dev/null && "$X" set ibg idle=yes >/dev/null ||
                fail "set idle=yes, idle=no, weight=200, idle=yes on ibg"
        out=$("$X" reset ibg 2>&1) || fail "reset after idle, weight, idle again: $out"
        assert_eq "0 $shares0" "$(cat "$idle_cg/cpu.idle") $(cat "$idle_cg/cpu.shares")" \
                "reset restores cpu.idle and cpu.shares in one go"
        state_sum() { { cat "$XVSCHED_STATE_DIR/state.json" 2>/dev/null || echo none; } | md5sum; }
        before=$(state_sum)
        if out=$("$X" set ifg idle=yes 2>&1); then fail "idle=yes accepted for ifg in the root cgroup"; fi
        assert_match "idle=yes: domain 'ifg' has no cgroup of its own" "$out" "a shared cgroup is refused"
        assert_eq 1 "$(echo "$out" | wc -l)" "the refusal is one line"
        assert_eq "$before" "$(state_sum)" "a refused idle= leaves the state file byte-identical"
else
        echo "no /sys/fs/cgroup/cpu/cpu.idle here (v2, or a kernel before 5.15): cpu.idle checks skipped"
fi
# wait_idle_cg VALUE SECONDS WHAT: ibg's cgroup's cpu.idle becomes VALUE.
wait_idle_cg() {
        [ -n "$idle_cg" ] || return 0
        local i
        for ((i = 0; i < $2 * 10; i++)); do
                [ "$(cat "$idle_cg/cpu.idle")" = "$1" ] && return 0
                sleep 0.1
        done
        fail "$3: $idle_cg/cpu.idle is $(cat "$idle_cg/cpu.idle"), expected $1"
}

conf=$XV_TEST_DIR/idle.conf
cat >"$conf" <<CONF
[daemon]
interval = 500ms
[domain fg]
match = ifg
cpus = 0
[domain bg]
match = ibg
cpus = 0
[task work]
domain = fg
comm = work
[task backup]
domain = bg
comm = backup
class = idle
CONF
# wait_marker MARKER [GATE]: wait for MARKER on ifg's console (30 s), with
# GATE: resuming the guest's gate until it shows (the agent may still start).
wait_marker() {
        local c i
        c=$(vm console ifg)
        for ((i = 0; i < 300; i++)); do
                if [ -n "${2:-}" ] && ((i % 20 == 0)); then "$X" -b qmp cont ifg gate >/dev/null 2>&1 || true; fi
                tr -d '\r' <"$c" | grep -qx "$1" && return 0
                sleep 0.1
        done
        fail "no $1 on ifg's console within 30 s"
}
wait_marker FG-BURN gate
daemon_start "$conf" --timeline "$XV_TEST_DIR/timeline.jsonl"

# vcpu_policies NAME: the host scheduling policy of each vCPU thread (0
# normal, 5 SCHED_IDLE), one line.
vcpu_policies() {
        local pid t out=
        pid=$(vm pid "$1")
        for t in /proc/"$pid"/task/*; do
                grep -q '^CPU ' "$t/comm" 2>/dev/null || continue
                out+="$(sed 's/.*) //' "$t/stat" | awk '{print $39}') "
        done
        echo "${out% }"
}
# wait_policies NAME EXPECTED SECONDS WHAT
wait_policies() {
        local i p
        for ((i = 0; i < $3 * 10; i++)); do
                p=$(vcpu_policies "$1")
                [ -n "$p" ] && [ -z "$(echo "$p" | tr ' ' '\n' | grep -vx "$2")" ] && return 0
                sleep 0.1
        done
        fail "$4: ${1}'s vCPU thread policies are '$p', expected all $2"
}
# backup_stopped: the daemon's status shows the backup stopped by it.
backup_stopped() {
        "$X" status --json | python3 -c 'import json,sys
t=[x for x in json.load(sys.stdin)["tasks"] if x["task"]=="backup"][0]
sys.exit(0 if t["state"]=="stopped" and t["stopped_by_xvsched"] else 1)'
}

sleep 2
# Solo: the background guest paused.
vm qmp ibg '{"execute":"stop"}' >/dev/null
read -r _ solo < <(measure_vcpus 5 ifg)
vm qmp ibg '{"execute":"cont"}' >/dev/null
# The paused guest's agent saw its lease run out and resumed the backup;
# wait for the daemon to reconnect and stop it again (at most 15 s).
for ((i = 0; i < 150; i++)); do
        backup_stopped && break
        sleep 0.1
done
backup_stopped || fail "the daemon did not stop the backup again within 15 s of the guest's resume"
read -r _ with < <(measure_vcpus 5 ifg)
kept=$(python3 -c "print(round($with / $solo * 100, 1))")
echo "foreground: solo $solo %, beside the idle-class background $with % of a core -> $kept % of solo"
in_range "$kept" 75 1000 || fail "the foreground kept only $kept % of its solo throughput"
# Other watched work busy, the backup stopped: ibg's vCPUs normal again.
wait_policies ibg 0 10 "the backup stopped while the foreground burns"
wait_idle_cg 0 5 "the backup stopped while the foreground burns"

tr -d '\r' <"$(vm console ifg)" | grep -qx FG-SLEEP && fail "the foreground's 25 s ended before the measurements did"

wait_marker FG-SLEEP
# The daemon resumes the backup; only idle-class work keeps ibg busy, and its
# vCPUs go to SCHED_IDLE.
wait_policies ibg 5 20 "the foreground sleeps, the backup runs"
wait_idle_cg 1 5 "the foreground sleeps, the backup runs"
assert_match "^bg +[^ ]+ +1 +idle " "$("$X" status)" "status shows bg's vCPUs at SCHED_IDLE (RT column)"
assert_eq true "$("$X" status --json | python3 -c 'import json,sys; print(str([d for d in json.load(sys.stdin)["domains"] if d["domain"]=="bg"][0]["vcpu_idle"]).lower())')" \
        "status --json: vcpu_idle of bg"
backup_stopped && fail "the foreground sleeps, but the backup is still stopped by the daemon"
# The share is only meaningful while CPU 0 (both guests' cpus) has no other
# host work: at SCHED_IDLE the backup's vCPU yields to any host task (e.g.
# the CI's stress-ng when the balancer puts it on CPU 0: 0.7 % then).  So
# CPU 0's other work is measured beside it, and above 40 % the share is
# reported as inconclusive, not asserted (the resume itself is, above).
cpu0_busy() { awk '$1 == "cpu0" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
hz=$(getconf CLK_TCK)
c0=$(cpu0_busy); w0=$(date +%s%N)
read -r _ bg < <(measure_vcpus 5 ibg)
c1=$(cpu0_busy); w1=$(date +%s%N)
other=$(python3 -c "print(round(max(0.0, ($c1 - $c0) / $hz / (($w1 - $w0) / 1e9) * 100 - $bg), 1))")
echo "background while the foreground sleeps: $bg % of a core (other host work on CPU 0: $other %)"
if in_range "$other" 0 40; then
        in_range "$bg" 35 1000 || fail "the background got only $bg % while the foreground slept"
else
        echo "background share inconclusive: other host work took $other % of CPU 0 (its vCPUs at SCHED_IDLE yield to it)"
fi
"$X" status
daemon_stop
assert_eq 0 "$(journal_entries)" "journal empty after SIGTERM"
wait_policies ibg 0 1 "after SIGTERM"
wait_idle_cg 0 1 "after SIGTERM"

# kill -9 while ibg's vCPUs are at SCHED_IDLE: they stay so (journaled),
# and the next start restores them before anything else.
daemon_start "$conf"
wait_policies ibg 5 20 "the daemon again, the foreground asleep"
wait_idle_cg 1 5 "the daemon again, the foreground asleep"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
left=$(journal_entries)
[ "$left" -gt 0 ] || fail "a killed daemon left no record of its changes"
assert_eq 5 "$(vcpu_policies ibg | cut -d' ' -f1)" "a killed daemon leaves SCHED_IDLE (the journal holds it)"
wait_idle_cg 1 1 "a killed daemon leaves cpu.idle 1 (the journal holds it)"
printf '[daemon]\nvcpu_idle = no\n' >"$conf.off"
sed 1d "$conf" >>"$conf.off"
daemon_start "$conf.off"
assert_match "found $left values? left by a previous run" "$(cat "$XV_TEST_DIR/daemon.log")" "restart recovers"
wait_policies ibg 0 1 "after the restart's recovery (vcpu_idle = no)"
wait_idle_cg 0 1 "after the restart's recovery (vcpu_idle = no)"
daemon_stop
assert_eq 0 "$(journal_entries)" "journal empty after the restarted daemon exits"
pass
