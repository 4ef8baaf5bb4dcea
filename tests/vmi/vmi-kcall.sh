#!/usr/bin/env bash
# Agentless resume and renice by calling the guest kernel's own functions
# through QEMU's gdbstub (issue 12, docs/agentless.md), on a busybox guest
# with no agent (stock Debian kernel, KASLR):
#  - the addresses found in guest memory (exported-symbol table) are the
#    guest's own /proc/kallsyms ones;
#  - `xvsched stop --via vmi` stops a CPU-bound guest process (T in the
#    guest), `xvsched cont --via vmi` resumes it (R/S in the guest);
#  - `xvsched nice --via vmi` renices it (the guest's /proc/PID/stat), the end
#    of the hold restores the nice value;
#  - the daemon (view = vmi, idle class) stops "backup" while "work" runs;
#    killed by SIGKILL, its guard resumes backup through the same route;
#  - the VM runs at the end and the console shows no oops, BUG, WARNING or
#    RCU stall.
# Two vCPUs: a call needs one idle; "work" is held stopped (injection only)
# until the daemon phase.
. "$(dirname "$0")/../lib/common.sh"
require_vm
. "$(dirname "$0")/../lib/policy.sh"
mkdir -p "$XVSCHED_STATE_DIR"
GRACE=${XV_GUARD_GRACE:-30}

vm start --name kc --cpus 2 --stay --cmd 'grep -E " (send_sig|set_user_nice)$" /proc/kallsyms
'"$GUEST_LIB"' b work; echo WORK $!; b backup; bp=$!; echo BUSY $bp
while :; do echo "MON $(cut -d" " -f3,19 /proc/$bp/stat)"; sleep 0.2; done' >/dev/null
vm wait kc
console=$(vm console kc)
con() { tr -d '\r' <"$console"; }
# new_mon REGEX SECONDS: a MON line printed from now on matches
new_mon() {
        local n0 i
        n0=$(con | wc -l)
        for ((i = 0; i < $2 * 10; i++)); do
                con | tail -n +"$((n0 + 1))" | grep -qE "^MON $1\$" && return 0
                sleep 0.1
        done
        return 1
}
busy=""
for _ in $(seq 100); do
        busy=$(con | awk '/^BUSY/ { print $2; exit }')
        [ -n "$busy" ] && break
        sleep 0.2
done
[ -n "$busy" ] || fail "the guest did not start its busy loop"
work=$(con | awk '/^WORK/ { print $2; exit }')
new_mon 'R 0' 30 || fail "the busy loop never ran"
# park work (SIGSTOP injection needs no idle vCPU)
"$X" -b qmp stop kc "$work" --via vmi --for 600 >"$XV_TEST_DIR/park.out" 2>&1 &
parked=$!
xv_on_exit "kill -TERM $parked 2>/dev/null"
for _ in $(seq 100); do grep -q '^stopped' "$XV_TEST_DIR/park.out" && break; sleep 0.2; done
grep -q '^stopped' "$XV_TEST_DIR/park.out" || fail "could not park work: $(cat "$XV_TEST_DIR/park.out")"

# the addresses: memory's exported-symbol table vs the guest's kallsyms
out=$("$X" -v -b qmp ps kc --via vmi 2>&1 >/dev/null) || fail "ps --via vmi failed: $out"
mem=$(echo "$out" | sed -n 's/.*send_sig at 0x\([0-9a-f]*\), set_user_nice at 0x\([0-9a-f]*\).*/\1 \2/p')
ks=$(con | awk '$3 == "send_sig" { s = $1 } $3 == "set_user_nice" { n = $1 } END { print s, n }')
assert_eq "$ks" "$mem" "send_sig and set_user_nice: from guest memory vs the guest's /proc/kallsyms"

# stop (held in the background), then cont from another command
"$X" -b qmp stop kc "$busy" --via vmi --for 60 >"$XV_TEST_DIR/stop.out" 2>&1 &
holder=$!
xv_on_exit "kill -TERM $holder 2>/dev/null"
new_mon 'T 0' 30 || fail "the busy loop was not stopped: $(cat "$XV_TEST_DIR/stop.out")"
assert_match 'gdbstub-kcall' "$(cat "$XV_TEST_DIR/stop.out")" "control path"
out=$("$X" -b qmp cont kc "$busy" --via vmi 2>&1) || fail "cont --via vmi failed: $out"
new_mon '[RS] 0' 20 || fail "the busy loop did not run again after cont --via vmi"
kill -TERM "$holder"
wait "$holder" || fail "the stop command failed at its end: $(cat "$XV_TEST_DIR/stop.out")"

# renice for a moment: the guest sees nice 7, then 0 again
"$X" -b qmp nice kc "$busy" 7 --via vmi --for 3 >"$XV_TEST_DIR/nice.out" 2>&1 &
holder=$!
new_mon '[RS] 7' 30 || fail "the guest never showed nice 7: $(cat "$XV_TEST_DIR/nice.out")"
wait "$holder" || fail "nice --via vmi failed: $(cat "$XV_TEST_DIR/nice.out")"
assert_match 'restored' "$(cat "$XV_TEST_DIR/nice.out")" "nice restored at the end of the hold"
new_mon '[RS] 0' 20 || fail "nice 0 was not restored in the guest"

# a bad pid: one line, non-zero, the VM runs
if out=$("$X" -b qmp cont kc 99999 --via vmi 2>&1); then fail "cont of a missing pid succeeded"; fi
assert_eq 1 "$(echo "$out" | wc -l)" "one error line: $out"

# the daemon holds backup stopped while work runs; kill -9; the guard resumes
kill -TERM "$parked"
wait "$parked" || fail "resuming work failed: $(cat "$XV_TEST_DIR/park.out")"
conf=$XV_TEST_DIR/kc.conf
cat >"$conf" <<CONF
[daemon]
interval = 200ms
agentless_calls = yes
[domain g]
match = kc
view = vmi
[task work]
domain = g
comm = work
[task backup]
domain = g
comm = backup
class = idle
CONF
daemon_start "$conf"
new_mon 'T [0-9-]+' 60 || fail "the daemon never stopped backup through the vmi view: $(tail -5 "$XV_TEST_DIR/daemon.log")"
grep -q '"guest-stop"' "$XVSCHED_STATE_DIR/state.json" || fail "the agentless stop is not in the journal"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
t0=$(date +%s%N)
new_mon '[RS] [0-9-]+' "$GRACE" || fail "backup still stopped ${GRACE}s after the daemon died (guard through the gdbstub?)"
log "backup runs again $((($(date +%s%N) - t0) / 1000000)) ms after kill -9 (guard: vmi attach + send_sig)"

st=$(vm qmp kc '{"execute":"query-status"}')
assert_match '"running": *true' "$st" "VM run state"
if con | grep -E 'Oops|BUG|WARNING|Call Trace|rcu.*stall'; then
        fail "the guest console shows a kernel problem"
fi
pass
