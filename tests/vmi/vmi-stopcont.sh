#!/usr/bin/env bash
# Agentless stop, resume through the agent, on a real KASLR guest (TCG):
# XV_VMI_CYCLES (default 100; the soak in docs/vmi.md runs 1000) cycles of
# a CPU-bound guest process: SIGSTOP injected while the VM is paused, the
# process reaches T and its CPU time stops growing, the agent resumes it;
# it ends running and the console shows no oops, BUG or WARNING.  Without
# an agent the view refuses to stop (it could not resume).  An agentless
# resume killed by SIGKILL in the middle of its guest kernel call is
# finished by its guard (XV_KCALL_KILL_STEPS, default "return").
. "$(dirname "$0")/../lib/common.sh"
require_vm
CTL=$XV_BUILD/tools/ctl/vmi-ctl
[ -x "$CTL" ] || fail "$CTL is not built"
CYCLES=${XV_VMI_CYCLES:-100}

vm start --name sc --cpus 2 --mem 256 --agent --stay \
        --cmd 'sh -c "while :; do :; done" & sleep 100000' >/dev/null
vm wait sc
pid=$(vm pid sc)
QMP=$XV_RUN/sc.qmp
AGENT=$XV_RUN/sc.agent

busy=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
        busy=$("$CTL" --pid "$pid" --qmp "$QMP" ps | awk -F'\t' '$7 == "sh" && $8 ~ /while/ { print $2; exit }')
        [ -n "$busy" ] && break
        sleep 0.5
done
[ -n "$busy" ] || fail "the busy loop is not in the introspected task list"
log "busy loop is pid $busy"

# no agent and guest kernel calls off: no stop (the view could not resume;
# with them on it resumes through the gdbstub: tests/vmi/vmi-kcall.sh)
if out=$(XVSCHED_VMI_KCALL=0 "$CTL" --pid "$pid" --qmp "$QMP" stop "$busy" 2>&1); then
        fail "stop without an agent succeeded: $out"
fi
assert_match 'control_path none' "$out" "control path without an agent"
assert_match 'cannot|no way to resume' "$out" "refusal"

# An agentless resume of a pid that is gone, or of a kernel thread: one
# error, no crash (the task list was freed twice there: glibc aborted the
# daemon with "double free or corruption" when a task exited before its
# resume or renice).
for p in 99999:'no thread 99999 in the guest' 2:'refusing kernel thread or init 2'; do
        rc=0
        out=$("$CTL" --pid "$pid" --qmp "$QMP" cont "${p%%:*}" 2>&1) || rc=$?
        [ "$rc" = 1 ] && ! [[ $out =~ Sanitizer|double\ free ]] ||
                fail "agentless cont of pid ${p%%:*}: exit $rc (wanted 1): $(echo "$out" | head -3)"
        assert_match "${p#*:}" "$out" "agentless cont of pid ${p%%:*}"
done

# Killed in the middle of a guest kernel call (docs/agentless.md, "Killed
# mid-call"): `xvsched cont --via vmi` (agent left out by a test hook) raises
# SIGKILL at a step of the call (XVSCHED_TEST_KCALL_DIE); its guard finishes
# or undoes the call from the journal.  Then: the pause entry is gone, the
# guard restored the vCPU's registers and removed the breakpoint, the VM
# runs, the busy loop is stopped where the call never ran (wake, setup: a
# plain cont then resumes it) and running where it did (inside, call,
# return, stub: the call done, the stub up); the agentless cycles below
# then call the guest kernel again.
# make check kills at "return" (the vCPU's registers are the call's), on
# the running busy loop (each introspection attach costs seconds under
# load; the cycles below check its state); suite slow (vmi-kcall-kill) at
# every step, the busy loop stopped first.
. "$(dirname "$0")/../lib/policy.sh"
mkdir -p "$XVSCHED_STATE_DIR"
state_of() { "$CTL" --pid "$pid" --qmp "$QMP" ps | awk -F'\t' -v p="$busy" '$2 == p { print $3; exit }'; }
wait_state() {   # REGEX SECONDS
        local i s
        for ((i = 0; i < $2 * 5; i++)); do
                s=$(state_of)
                [[ $s =~ ^($1)$ ]] && return 0
                sleep 0.2
        done
        echo "$s"
        return 1
}
kill_t0=$(date +%s%N)
stop_first=${XV_KCALL_KILL_STEPS:+1}
for step in ${XV_KCALL_KILL_STEPS:-return}; do
        if [ -n "$stop_first" ]; then
                "$CTL" --pid "$pid" --qmp "$QMP" --agent "$AGENT" stop "$busy" >/dev/null ||
                        fail "stop before step $step failed"
                s=$(wait_state T 10) || fail "the busy loop did not stop before step $step: $s"
        fi
        err=$XV_TEST_DIR/kill-$step.err
        rc=0
        XVSCHED_TEST_VMI_NO_AGENT=1 XVSCHED_TEST_KCALL_DIE=$step "$X" -v -b qmp cont sc "$busy" --via vmi \
                >/dev/null 2>"$err" || rc=$?
        [ "$rc" = 137 ] || fail "cont did not die at step $step (exit $rc): $(tail -3 "$err")"
        t0=$(date +%s%N)
        for ((i = 0; i < 300; i++)); do
                grep -q '"pause"' "$XVSCHED_STATE_DIR/state.json" 2>/dev/null || break
                sleep 0.1
        done
        grep -q '"pause"' "$XVSCHED_STATE_DIR/state.json" &&
                fail "step $step: the pause is still in the journal 30 s after the kill: $(tail -3 "$err")"
        line=$(grep -o 'kcall recovery (step [a-z]*[,)].*' "$err" | tail -1)
        log "killed at step $step: guard done $((($(date +%s%N) - t0) / 1000000)) ms after: $line"
        case $step in
        wake) assert_match 'step breakpoint, .*: breakpoints removed' "$line" "step $step: guard" ;;
        stub) assert_match 'step stub\): gdbstub stopped' "$line" "step $step: guard" ;;
        inside) assert_match 'step call, .*: the call returned; vCPU registers restored, breakpoints removed' "$line" \
                "step $step: guard (the vCPU was inside the function: let it return)" ;;
        *) assert_match 'step call, .*registers restored, breakpoints removed' "$line" "step $step: guard" ;;
        esac
        st=$(vm qmp sc '{"execute":"query-status"}')
        if ! [[ $st =~ \"running\":\ *true ]]; then
                vm qmp sc '{"execute":"human-monitor-command","arguments":{"command-line":"info registers -a"}}' |
                        grep -o 'RIP=[0-9a-f]*' >&2
                grep -E 'kcall|gdb' "$err" | tail -20 >&2
                fail "step $step: VM run state after the guard: $st"
        fi
        [ -n "$stop_first" ] || continue
        case $step in
        wake | setup)
                s=$(wait_state T 2) || fail "step $step: the call never ran, yet the busy loop is $s"
                out=$(XVSCHED_TEST_VMI_NO_AGENT=1 "$X" -b qmp cont sc "$busy" --via vmi 2>&1) ||
                        fail "step $step: cont --via vmi after the guard failed: $out"
                s=$(wait_state 'R|S' 10) || fail "step $step: the busy loop is $s after cont"
                ;;
        *) s=$(wait_state 'R|S' 10) || fail "step $step: the call ran, yet the busy loop is $s" ;;
        esac
done
log "killed mid-call: $((($(date +%s%N) - kill_t0) / 1000000)) ms for the steps ${XV_KCALL_KILL_STEPS:-return}"

# the route disabled on this guest's kernel, then enabled (the cycles below
# then call the guest kernel again): vmi-routes-phase.sh
. "$(dirname "$0")/vmi-routes-phase.sh"

# no agent, guest kernel calls on: stop by injection, resume through
# send_sig(SIGCONT) called through QEMU's gdbstub (docs/agentless.md; the
# full check with renice and the guard is tests/vmi/vmi-kcall.sh, suite slow)
out=$("$CTL" --pid "$pid" --qmp "$QMP" --hold-ms 20 cycles "$busy" 3) || fail "agentless stop/resume cycles failed: $out"
assert_match "^cycles n=3 frozen=3 " "$(echo "$out" | tail -1)" "agentless: every stop froze the CPU time"

out=$("$CTL" --pid "$pid" --qmp "$QMP" --agent "$AGENT" --hold-ms 20 cycles "$busy" "$CYCLES") ||
        fail "stop/resume cycles failed: $out"
log "$(echo "$out" | tail -1)"
assert_match "^cycles n=$CYCLES frozen=$CYCLES " "$(echo "$out" | tail -1)" "every stop froze the CPU time"
assert_match 'end_state=[RS] ' "$(echo "$out" | tail -1)" "final state"

# the VM runs (not left paused) and the guest kernel stayed quiet
st=$(vm qmp sc '{"execute":"query-status"}')
assert_match '"running": *true' "$st" "VM run state"
if tr -d '\r' < "$(vm console sc)" | grep -E 'Oops|BUG|WARNING|Call Trace'; then
        fail "the guest console shows a kernel problem"
fi
pass "$CYCLES cycles"
