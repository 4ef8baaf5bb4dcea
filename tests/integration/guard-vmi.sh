#!/bin/bash
# Nothing xvsched stops or pauses outlives it (issue 9, defects 2, 3, 5):
#  (a) the daemon holds a stop made through the vmi view (SIGSTOP injected
#      into guest memory: no agent lease), then dies by SIGKILL and is not
#      restarted: its guard resumes the guest process within seconds, the VM
#      runs, the journal keeps nothing of it;
#  (b) the daemon dies by SIGKILL while the VM is paused for an injection
#      (XVSCHED_TEST_DIE_IN_PAUSE=1, a test-only hook): the guard continues
#      the VM within seconds, no restart;
#  (c) a stale "pause" entry is continued by `xvsched reset --all` only when
#      its QEMU's pid and start time match; one with another start time is
#      dropped and the VM left alone.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_vm
. "$(dirname "$0")/../lib/policy.sh"
[ -x "$XV_BUILD/agent/xvagent" ] || skip "xvagent is not built"
GRACE=${XV_GUARD_GRACE:-10}

# A busy "work" and an idle-class busy "backup" in one guest: the idle
# class is stopped while work runs.  The guest prints backup's state.
vm start --name gv --agent --stay --cmd "$GUEST_LIB b work; b backup; bp=\$!
while :; do echo \"MON \$(cut -d' ' -f3 /proc/\$bp/stat)\"; sleep 0.5; done" >/dev/null
vm wait gv
console=$(vm console gv)
qpid=$(vm pid gv)

conf=$XV_TEST_DIR/guard.conf
cat >"$conf" <<CONF
[daemon]
interval = 200ms
[domain g]
match = gv
view = vmi
[task work]
domain = g
comm = work
[task backup]
domain = g
comm = backup
class = idle
CONF

# new_lines_have REGEX SECONDS: a console line printed from now on matches.
new_lines_have() {
        local n0 i
        n0=$(wc -l <"$console")
        for ((i = 0; i < $2 * 10; i++)); do
                tail -n +"$((n0 + 1))" "$console" | tr -d '\r' | grep -qE "$1" && return 0
                sleep 0.1
        done
        return 1
}
vm_running() { vm qmp gv '{"execute":"query-status"}' | grep -qE '"running": *true'; }
guest_entries() {
        python3 -c 'import json,sys
e=json.load(open(sys.argv[1]))["entries"]
print(len([x for x in e if x.get("type") in ("guest-stop","pause")]))' "$XVSCHED_STATE_DIR/state.json"
}

new_lines_have '^MON R' 60 || fail "backup never ran in the guest"

# ---- (a) a vmi stop held by the daemon, daemon killed, no restart
daemon_start "$conf"
new_lines_have '^MON T' 30 || fail "the daemon never stopped backup through the vmi view: $(tail -5 "$XV_TEST_DIR/daemon.log")"
grep -q '"guest-stop"' "$XVSCHED_STATE_DIR/state.json" || fail "the vmi stop is not in the journal"
# still stopped a moment later: the daemon holds it
new_lines_have '^MON T' 5 || fail "backup did not stay stopped"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
t0=$(date +%s%N)
new_lines_have '^MON R' "$GRACE" || fail "backup still stopped ${GRACE}s after the daemon died (no guard?)"
t1=$(date +%s%N)
log "(a) backup runs again $(((t1 - t0) / 1000000)) ms after kill -9"
vm_running || fail "(a) the VM is not running"
for _ in $(seq 50); do [ "$(guest_entries)" = 0 ] && break; sleep 0.1; done
assert_eq 0 "$(guest_entries)" "(a) guest entries left in the journal"

# ---- (b) killed while the VM is paused, no restart
XVSCHED_TEST_DIE_IN_PAUSE=1 "$X" -b qmp run "$conf" >"$XV_TEST_DIR/daemon-b.log" 2>&1 &
dpid=$!
xv_on_exit "kill -TERM $dpid 2>/dev/null"
for ((i = 0; i < 600; i++)); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$dpid" 2>/dev/null && fail "(b) the daemon did not die in its pause within 60 s"
if wait "$dpid" 2>/dev/null; then rc=0; else rc=$?; fi
assert_eq 137 "$rc" "(b) exit status of the daemon killed in its pause (log: $(tail -3 "$XV_TEST_DIR/daemon-b.log"))"
t0=$(date +%s%N)
ok=
for ((i = 0; i < GRACE * 10; i++)); do vm_running && { ok=1; break; }; sleep 0.1; done
[ -n "$ok" ] || fail "(b) the VM is still paused ${GRACE}s after the daemon died in its pause"
t1=$(date +%s%N)
log "(b) VM running again $(((t1 - t0) / 1000000)) ms after the daemon died paused"
new_lines_have '^MON R' "$GRACE" || fail "(b) backup does not run after the guard"
for _ in $(seq 50); do [ "$(guest_entries)" = 0 ] && break; sleep 0.1; done
assert_eq 0 "$(guest_entries)" "(b) guest entries left in the journal"

# ---- (c) a stale pause entry and `xvsched reset --all`
qstart=$(sed 's/.*) //' "/proc/$qpid/stat" | cut -d' ' -f20)
write_pause() {   # write_pause QEMU_START
        python3 - "$XVSCHED_STATE_DIR/state.json" "$XV_RUN/gv.qmp" "$qpid" "$1" <<'PY'
import json, sys
path, sock, pid, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
j = json.load(open(path))
j["entries"].append({"key": "pause:%s:%d:%d" % (sock, pid, start), "type": "pause", "owner": "daemon",
                     "owner_pid": 999999, "owner_start": 1, "domain": "g", "match": "gv",
                     "qemu_pid": pid, "qemu_start": start, "qmp_socket": sock})
json.dump(j, open(path, "w"))
PY
}
vm qmp gv '{"execute":"stop"}' >/dev/null
vm_running && fail "(c) the VM did not pause"
write_pause $((qstart + 1))           # another QEMU (start time differs): not ours to continue
"$X" -b qmp reset --all >/dev/null || fail "(c) reset --all failed"
vm_running && fail "(c) reset continued a VM whose QEMU start time does not match"
assert_eq 0 "$(guest_entries)" "(c) the mismatched pause entry is dropped"
write_pause "$qstart"
"$X" -b qmp reset --all >/dev/null || fail "(c) reset --all failed"
vm_running || fail "(c) reset --all did not continue the VM its stale pause entry names"
assert_eq 0 "$(guest_entries)" "(c) pause entry left after reset"
pass
