#!/usr/bin/env bash
# Introspection against the guest's own view, on a real KASLR guest (TCG):
#  - attach finds BTF, init_task, the randomized direct map and every CPU's rq;
#  - over repeated scans the task list equals the agent's (pid, tid, comm,
#    state) for >= 99 % of tasks;
#  - every CPU's rq->curr agrees with /proc in the guest (through the agent);
#  - guest RAM as a shared memfd (memory-backend-memfd,share=on) is mapped
#    directly and gives the same answers.
. "$(dirname "$0")/../lib/common.sh"
require_vm
CTL=$XV_BUILD/tools/ctl/vmi-ctl
[ -x "$CTL" ] || fail "$CTL is not built"

# 100 sleepers, two CPU-bound loops pinned to the two CPUs, a pipeline.
SCRIPT='for i in $(seq 100); do sleep 100000 & done
taskset -c 0 sh -c "while :; do :; done" &
taskset -c 1 sh -c "while :; do :; done" &
sleep 100000 | cat &
sleep 100000'

run_checks() {
        local n=$1 pid out
        pid=$(vm pid "$n")
        out=$("$CTL" --pid "$pid" --qmp "$XV_RUN/$n.qmp" info) || fail "$n: vmi-ctl info failed"
        log "$n: $(echo "$out" | grep -E '^(ram_layout|btf|page_offset_base|cpus|time_us)' | tr '\n' ';')"
        assert_match '^cpus 2 ' "$(echo "$out" | grep '^cpus')" "$n: CPUs found"
        echo "$out" | grep -qx "ram_layout $2" || fail "$n: expected RAM layout '$2': $(echo "$out" | grep ram_layout)"

        out=$("$CTL" --pid "$pid" --qmp "$XV_RUN/$n.qmp" --agent "$XV_RUN/$n.agent" crosscheck 15) ||
                fail "$n: crosscheck failed"
        local line
        line=$(echo "$out" | grep '^crosscheck')
        log "$n: $line"
        echo "$out" | grep -v '^crosscheck' | head -5 >&2 || true
        local pm
        pm=$(echo "$line" | sed 's/.*match_permille=//')
        [ "$pm" -ge 990 ] || fail "$n: only $pm per mille of tasks match the agent's view"
        local tasks
        tasks=$(echo "$line" | sed 's/.* tasks=\([0-9]*\).*/\1/')
        [ "$tasks" -ge $((15 * 140)) ] || fail "$n: too few tasks compared ($tasks)"

        out=$("$CTL" --pid "$pid" --qmp "$XV_RUN/$n.qmp" --agent "$XV_RUN/$n.agent" cpucheck 30) ||
                fail "$n: cpucheck failed"
        line=$(echo "$out" | grep '^cpucheck')
        log "$n: $line"
        pm=$(echo "$line" | sed 's/.*agree_permille=//')
        local samples
        samples=$(echo "$line" | sed 's/.* samples=\([0-9]*\).*/\1/')
        [ "$samples" -ge 20 ] || fail "$n: too few stable rq samples ($samples)"
        [ "$pm" -ge 950 ] || { echo "$out" | grep DISAGREE >&2; fail "$n: rq->curr agrees with /proc only $pm per mille"; }
        # the two CPU-bound loops are what the CPUs run
        echo "$out" | grep -q 'curr [0-9]* sh idle=0' || fail "$n: no CPU runs the busy loops"
        [ "$n" = anon ] && quick_call_check "$pid" "$n"
        return 0
}

# Both vCPUs busy: no idle vCPU for a guest kernel call.  As the daemon's
# rounds make it (--quick), a call is refused after one short look, not
# after three ~1.5 s searches (which held the daemon's round, and its view
# of the guest, for ~4.5 s: the 002 idle-class loss), and the VM runs on.
quick_call_check() {
        local pid=$1 n=$2 busy out rc=0 t0 ms
        busy=$("$CTL" --pid "$pid" --qmp "$XV_RUN/$n.qmp" ps | awk -F'\t' '$7 == "sh" && $8 ~ /while/ && $3 == "R" { print $2; exit }')
        [ -n "$busy" ] || fail "$n: no running busy loop in the task list"
        t0=$(date +%s%N)
        out=$("$CTL" --pid "$pid" --qmp "$XV_RUN/$n.qmp" --quick cont "$busy" 2>&1) || rc=$?
        ms=$((($(date +%s%N) - t0) / 1000000))
        log "$n: quick kernel call with both vCPUs busy: exit $rc in $ms ms ($(echo "$out" | awk '$1 == "call_ms" { print $2 }') ms in the call): $(echo "$out" | grep -m1 '^vmi-ctl:')"
        [ "$rc" = 1 ] || fail "$n: quick call with no idle vCPU: exit $rc (wanted 1): $out"
        # refused from the host (every vCPU thread ran for 30 ms: no VM
        # pause), or - a vCPU thread caught asleep an instant, e.g. on QEMU's
        # big lock - after the 4 looks of the paused VM
        assert_match 'no vCPU idle(: every vCPU thread of the VM ran for 30 ms| in hlt in 4 looks)' "$out" \
                "$n: quick call refusal"
        # the patient call's idle searches alone let the guest run ~4.5 s;
        # the call is timed by vmi-ctl, without its attach (BTF scan, symbol
        # lookups), which grows with the host's load
        local call_ms
        call_ms=$(echo "$out" | awk '$1 == "call_ms" { print $2 }')
        [ -n "$call_ms" ] || fail "$n: vmi-ctl printed no call_ms: $out"
        [ "$call_ms" -lt 4000 ] || fail "$n: the quick call took $call_ms ms"
        assert_match '"running": *true' "$(vm qmp "$n" '{"execute":"query-status"}')" "$n: VM runs after the refused call"
}

# 1. anonymous RAM, read with process_vm_readv
vm start --name anon --cpus 2 --mem 256 --agent --stay --cmd "$SCRIPT" >/dev/null
vm wait anon
sleep 2
run_checks anon qmp-mtree
vm stop anon

# 2. RAM as a shared memfd, mapped directly
cat > "$XV_TEST_DIR/qemu-memfd" <<EOQ
#!/bin/sh
exec ${XV_QEMU:-qemu-system-x86_64} "\$@" -object memory-backend-memfd,id=ram0,size=256M,share=on -machine memory-backend=ram0
EOQ
chmod +x "$XV_TEST_DIR/qemu-memfd"
XV_QEMU=$XV_TEST_DIR/qemu-memfd vm start --name memfd --cpus 2 --mem 256 --agent --stay --cmd "$SCRIPT" >/dev/null
vm wait memfd
sleep 2
run_checks memfd qmp-mtree+mmap

for n in memfd; do
        if tr -d '\r' < "$(vm console $n)" | grep -qE 'Oops|BUG|WARNING|Call Trace'; then
                fail "$n: the guest console shows a kernel problem"
        fi
done
pass
