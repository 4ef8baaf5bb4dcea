#!/usr/bin/env bash
# Agentless stop, resume through the agent, on a real KASLR guest (TCG):
# XV_VMI_CYCLES (default 100; the soak in docs/vmi.md runs 1000) cycles of
# a CPU-bound guest process: SIGSTOP injected while the VM is paused, the
# process reaches T and its CPU time stops growing, the agent resumes it;
# it ends running and the console shows no oops, BUG or WARNING.  Without
# an agent the view refuses to stop (it could not resume).
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
