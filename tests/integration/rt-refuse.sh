#!/bin/bash
# RT that could starve the host is refused (issue 9, defect 7), on real
# threads of a plain host process (a local domain, no guest needed):
# rt=fifo:N on threads that may run on every online CPU is refused with one
# error line and changes nothing; pinned with cpus= in the same set, leaving
# a CPU to the host, it is accepted (when RT throttling is on), a later
# cpus= that would cover every CPU is refused, and reset restores all;
# --rt-force overrides with a warning; the daemon refuses the same way (once)
# and, pinned, restores all on exit.  Throttling off is not switched here
# (it is the whole host's setting): tests/unit/test-lever-rt.c covers it.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd chrt taskset

X="$XV_BUILD/src/cli/xvsched"
export XVSCHED_STATE_DIR="$XV_TEST_DIR/state"
ncpu=$(nproc)
last=$((ncpu - 1))

sleep 1000 &
pid=$!
xv_on_exit "kill $pid 2>/dev/null"
L=(-l "rtt=pid:$pid")

policy() { chrt -p "$pid" | sed -n 's/.*scheduling policy: //p'; }
prio() { chrt -p "$pid" | sed -n 's/.*scheduling priority: //p'; }
affinity() { taskset -pc "$pid" | sed 's/.*: //'; }
entries() {
        [ -f "$XVSCHED_STATE_DIR/state.json" ] || { echo 0; return; }
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d.get("entries", d) if isinstance(d, dict) else d))' \
                "$XVSCHED_STATE_DIR/state.json"
}
aff0=$(affinity)
assert_eq SCHED_OTHER "$(policy)" "the process starts as"

# 1. No cpus=: the thread may run on every online CPU.  Refused, nothing set.
rc=0
out=$("$X" "${L[@]}" set rtt rt=fifo:10 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "rt=fifo:10 on a thread that may run on every CPU was accepted"
assert_eq 1 "$(printf '%s\n' "$out" | wc -l)" "error lines ($out)"
assert_match 'rtt: rt=fifo:10: .*every online CPU.*refused.*--rt-force' "$out" "the error names key, value, reason, override"
assert_eq SCHED_OTHER "$(policy)" "policy after the refusal"
assert_eq "$aff0" "$(affinity)" "affinity after the refusal"
assert_eq 0 "$(entries)" "state file entries after the refusal"

# The same with --dry-run: still refused (it says what would happen).
rc=0
out=$("$X" "${L[@]}" set rtt rt=rr:5 --dry-run 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "a dry run of a refused rt= succeeded"

[ "$ncpu" -ge 2 ] || skip "one CPU: no CPU can be left to the host (the refusal above was checked)"
throttling=$(cat /proc/sys/kernel/sched_rt_runtime_us)
[ "$throttling" != -1 ] || skip "RT throttling is off on this host: every rt= is refused (checked above)"

# 2. Pinned to the last CPU in the same set: the others stay the host's.
out=$("$X" "${L[@]}" set rtt rt=fifo:10 "cpus=$last" 2>&1) || fail "rt=fifo:10 cpus=$last refused: $out"
assert_eq SCHED_FIFO "$(policy)" "policy after rt=fifo:10 cpus=$last"
assert_eq 10 "$(prio)" "RT priority"
assert_eq "$last" "$(affinity)" "affinity"

# 3. Widening an RT thread to every CPU is refused the same way.
rc=0
out=$("$X" "${L[@]}" set rtt "cpus=0-$last" 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "cpus=0-$last on an RT thread was accepted"
assert_match "rtt: cpus=0-$last: .*every online CPU.*refused" "$out" "the cpus= refusal"
assert_eq "$last" "$(affinity)" "affinity after the refused cpus="
assert_eq SCHED_FIFO "$(policy)" "policy after the refused cpus="

# 4. reset restores policy and affinity.
"$X" "${L[@]}" reset rtt >/dev/null || fail "reset failed"
assert_eq SCHED_OTHER "$(policy)" "policy after reset"
assert_eq "$aff0" "$(affinity)" "affinity after reset"

# 5. --rt-force overrides, with a warning on stderr; reset restores.
out=$("$X" "${L[@]}" set rtt rt=fifo:10 --rt-force 2>&1 >/dev/null) || fail "--rt-force refused: $out"
assert_match 'warning: rt=fifo:10: .*every online CPU.*forced' "$out" "the forced warning"
assert_eq SCHED_FIFO "$(policy)" "policy with --rt-force"
"$X" "${L[@]}" reset rtt >/dev/null || fail "reset failed"
assert_eq SCHED_OTHER "$(policy)" "policy after the last reset"
assert_eq "$aff0" "$(affinity)" "affinity after the last reset"

# 6. The daemon: rt = fifo:10 without cpus= is refused once (a warning, not
# one per tick) and nothing changes; with a fixed cpus = LAST the threads
# are FIFO while it runs, and its exit restores everything, budget included.
printf '[domain rtt]\nrt = fifo:10\nrt_threads = all\n' >"$XV_TEST_DIR/a.conf"
out=$(timeout 60 "$X" "${L[@]}" run "$XV_TEST_DIR/a.conf" --ticks 20 2>&1) || fail "daemon run: $out"
assert_eq 1 "$(printf '%s\n' "$out" | grep -c 'warning: rtt: rt=fifo:10: .*every online CPU.*refused')" \
        "refusal warnings from 20 ticks ($out)"
assert_eq SCHED_OTHER "$(policy)" "policy after the daemon refused RT"
printf '[domain rtt]\nrt = fifo:10\nrt_threads = all\ncpus = %s\n' "$last" >"$XV_TEST_DIR/b.conf"
timeout 60 "$X" "${L[@]}" run "$XV_TEST_DIR/b.conf" --ticks 100000 >"$XV_TEST_DIR/b.log" 2>&1 &
dpid=$!
xv_on_exit "kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
for ((i = 0; i < 100; i++)); do
        [ "$(policy)" = SCHED_FIFO ] && break
        sleep 0.1
done
assert_eq SCHED_FIFO "$(policy)" "policy under the daemon with cpus = $last"
assert_eq "$last" "$(affinity)" "affinity under the daemon"
kill -TERM "$dpid"
wait "$dpid" || true
grep -q 'could not be restored\|cannot restore' "$XV_TEST_DIR/b.log" && fail "the daemon's exit left values: $(cat "$XV_TEST_DIR/b.log")"
assert_eq SCHED_OTHER "$(policy)" "policy after the daemon's exit"
assert_eq "$aff0" "$(affinity)" "affinity after the daemon's exit"
assert_eq 0 "$(entries)" "state file entries after the daemon's exit"

pass
