#!/bin/bash
# libvirt domains get the full control path (issue 11, item 3): libvirt owns
# their QMP and agent sockets, so xvsched pauses them through libvirt
# (virDomainSuspend/Resume, registers through the monitor passthrough),
# journaled like a QMP pause and resumed through libvirt by the guard.
#  (a) `xvsched list` says, per domain, which view and control paths it has
#      and why not: lc has no xvagent channel (no stop), lca has one;
#      both pause through libvirt;
#  (b) the daemon stops a guest process of lca through the vmi view (the VM
#      paused through libvirt while SIGSTOP is injected), and its stop
#      (SIGTERM: it restores) resumes it; the journal keeps nothing;
#  (c) the daemon dies by SIGKILL while the VM is paused through libvirt
#      (XVSCHED_TEST_DIE_IN_PAUSE=1): the journal entry says how to resume
#      (via libvirt, URI, UUID) and the guard resumes the VM through
#      libvirt within seconds, without a restart;
#  (d) a domain that disappears while xvsched works on it: every command
#      ends within bounds with at most one error line.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_vm
. "$(dirname "$0")/../lib/policy.sh"
[ -x "$XV_BUILD/agent/xvagent" ] || skip "xvagent is not built"
GRACE=${XV_GUARD_GRACE:-10}
LV="virsh -c qemu:///system"

libvirtd_up >/dev/null
# no_timer_check: a loaded host makes TCG fail the kernel's IO-APIC timer check
vm lv-start --name lc --append no_timer_check --cmd "sleep 100000" --stay >/dev/null
# The busy loops at nice 19 (busybox has renice, not nice), so that the agent (nice 0) answers at once
# on this one TCG vCPU; the policy does not care about guest nice.
NICE_LIB='mk(){ printf "#!/bin/sh\nwhile :; do :; done\n" >/tmp/$1; chmod +x /tmp/$1; }; b(){ mk $1; /tmp/$1 & renice -n 19 -p $! >/dev/null; };'
vm lv-start --name lca --append no_timer_check --agent --stay --cmd "$NICE_LIB b work; b backup; bp=\$!
while :; do echo \"MON \$(cut -d' ' -f3 /proc/\$bp/stat)\"; sleep 0.5; done" >/dev/null
vm wait lc --timeout "${XV_BOOT_TIMEOUT:-300}"
vm wait lca --timeout "${XV_BOOT_TIMEOUT:-300}"
console=$(vm console lca)

new_lines_have() {   # REGEX SECONDS: a console line of lca printed from now on matches
        local n0 i
        n0=$(wc -l <"$console")
        for ((i = 0; i < $2 * 10; i++)); do
                tail -n +"$((n0 + 1))" "$console" | tr -d '\r' | grep -qE "$1" && return 0
                sleep 0.1
        done
        return 1
}
lv_state() { $LV domstate "$1" 2>/dev/null | sed -n 1p; }
guest_entries() {
        [ -f "$XVSCHED_STATE_DIR/state.json" ] || { echo 0; return; }
        python3 -c 'import json,sys
e=json.load(open(sys.argv[1]))["entries"]
print(len([x for x in e if x.get("type") in ("guest-stop","pause")]))' "$XVSCHED_STATE_DIR/state.json"
}
path_of() {   # DOMAIN FIELD: paths.FIELD of DOMAIN in $json
        echo "$json" | python3 -c "import json,sys
d=[d for d in json.load(sys.stdin) if d['name']==sys.argv[1]][0]
print(d['paths'][sys.argv[2]])" "$1" "$2"
}

# ---- (a) list: paths and why not
json=$("$X" -b libvirt list --json --window 10) || fail "(a) list --json failed"
assert_eq "no channel" "$(path_of lc agent)" "(a) lc: agent path"
assert_match "^channel \(" "$(path_of lca agent)" "(a) lca: agent path"
assert_eq "libvirt" "$(path_of lc pause)" "(a) lc pauses through libvirt"
assert_eq "libvirt" "$(path_of lca pause)" "(a) lca pauses through libvirt"
assert_match "^none \(no xvagent" "$(path_of lc stop)" "(a) lc: no stop, and why"
assert_eq "ok" "$(path_of lca vmi)" "(a) lca: introspection attaches"
assert_eq "agent, vmi" "$(path_of lca stop)" "(a) lca: stop through the agent and through vmi (libvirt pause)"
assert_eq "no channel" "$(path_of lc qga)" "(a) lc: no QGA channel"
uuid=$($LV domuuid lca | sed -n 1p)
lc_json=$(echo "$json" | python3 -c "import json,sys
d=[d for d in json.load(sys.stdin) if d['name']=='lca'][0]
print(d['uuid'], d['libvirt_uri'], d['xvagent_channel']['type'])")
assert_eq "$uuid qemu:///system unix" "$lc_json" "(a) lca: uuid, URI and channel in the JSON"
text=$("$X" -b libvirt list --window 10) || fail "(a) list failed"
echo "$text"
assert_match "paths: agent: no channel; qga: no channel; vmi: [^;]*; pause: libvirt; stop: none \(no xvagent" \
        "$(echo "$text" | grep -A1 '^lc ' | tail -1)" "(a) lc's paths line"

# ---- (b) a vmi stop through the libvirt pause, resumed when the daemon stops
conf=$XV_TEST_DIR/lv.conf
cat >"$conf" <<CONF
[daemon]
interval = 200ms
[domain g]
match = lca
view = vmi
[task work]
domain = g
comm = work
[task backup]
domain = g
comm = backup
class = idle
CONF
new_lines_have '^MON R' 60 || fail "backup never ran in the guest"
"$X" -b libvirt run "$conf" >"$XV_TEST_DIR/daemon.log" 2>&1 &
dpid=$!
xv_on_exit "kill -TERM $dpid 2>/dev/null"
new_lines_have '^MON T' 60 || fail "(b) the daemon never stopped backup through vmi (libvirt pause): $(tail -5 "$XV_TEST_DIR/daemon.log")"
new_lines_have '^MON T' 5 || fail "(b) backup did not stay stopped"
assert_eq running "$(lv_state lca)" "(b) the VM runs between pauses"
kill -TERM "$dpid"
wait "$dpid" || fail "(b) the daemon exited with $?: $(tail -5 "$XV_TEST_DIR/daemon.log")"
new_lines_have '^MON R' "$GRACE" || fail "(b) backup still stopped after the daemon restored"
assert_eq 0 "$(guest_entries)" "(b) guest entries left in the journal"

# ---- (c) SIGKILL while the VM is paused through libvirt, no restart
XVSCHED_TEST_DIE_IN_PAUSE=1 "$X" -b libvirt run "$conf" >"$XV_TEST_DIR/daemon-c.log" 2>&1 &
dpid=$!
xv_on_exit "kill -TERM $dpid 2>/dev/null"
for ((i = 0; i < 600; i++)); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$dpid" 2>/dev/null && fail "(c) the daemon did not die in its pause within 60 s"
if wait "$dpid" 2>/dev/null; then rc=0; else rc=$?; fi
assert_eq 137 "$rc" "(c) exit status of the daemon killed in its pause ($(tail -3 "$XV_TEST_DIR/daemon-c.log"))"
t0=$(date +%s%N)
ok=
for ((i = 0; i < GRACE * 10; i++)); do [ "$(lv_state lca)" = running ] && { ok=1; break; }; sleep 0.1; done
[ -n "$ok" ] || fail "(c) lca is '$(lv_state lca)' ${GRACE}s after the daemon died paused (guard through libvirt?)"
t1=$(date +%s%N)
log "(c) lca running again $(((t1 - t0) / 1000000)) ms after the daemon died paused"
new_lines_have '^MON R' "$GRACE" || fail "(c) backup does not run after the guard"
for _ in $(seq 50); do [ "$(guest_entries)" = 0 ] && break; sleep 0.1; done
assert_eq 0 "$(guest_entries)" "(c) guest entries left in the journal"

# A stale libvirt pause entry: `reset --all` resumes through libvirt.
$LV suspend lca >/dev/null
assert_eq paused "$(lv_state lca)" "(c) virsh suspend"
qpid=$(vm pid lca)
qstart=$(sed 's/.*) //' "/proc/$qpid/stat" | cut -d' ' -f20)
python3 - "$XVSCHED_STATE_DIR/state.json" "$uuid" "$qpid" "$qstart" <<'PY'
import json, sys
path, uuid, pid, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
j = json.load(open(path))
j["entries"].append({"key": "pause:libvirt:%s:%d:%d" % (uuid, pid, start), "type": "pause", "owner": "daemon",
                     "owner_pid": 999999, "owner_start": 1, "domain": "g", "match": "lca",
                     "qemu_pid": pid, "qemu_start": start, "qmp_socket": "libvirt:" + uuid,
                     "via": "libvirt", "libvirt_uri": "qemu:///system", "uuid": uuid})
json.dump(j, open(path, "w"))
PY
"$X" -b libvirt reset --all >/dev/null || fail "(c) reset --all failed"
assert_eq running "$(lv_state lca)" "(c) reset --all resumed the VM through libvirt"
assert_eq 0 "$(guest_entries)" "(c) pause entry left after reset"

# ---- (d) the domain disappears under running commands
lc_entries() {   # journal entries for domain lc (the state file, as JSON)
        [ -f "$XVSCHED_STATE_DIR/state.json" ] || { echo 0; return; }
        python3 -c 'import json,sys
print(len([x for x in json.load(open(sys.argv[1]))["entries"] if x.get("domain") == "lc"]))' "$XVSCHED_STATE_DIR/state.json"
}
(sleep 1; vm lv-stop lc >/dev/null 2>&1) &
stopper=$!
bad=0 n_set_ok=0 n_set_failed=0
for i in $(seq 30); do
        for cmd in "show lc" "set lc weight=200 nice=3" "ps lc --via vmi"; do
                rc=0
                n0=$(lc_entries)
                # shellcheck disable=SC2086
                timeout 30 "$X" -b libvirt $cmd >/dev/null 2>"$XV_TEST_DIR/err" || rc=$?
                lines=$(grep -c . "$XV_TEST_DIR/err" || true)
                if [ "$rc" = 124 ] || [ "$rc" -gt 2 ] || [ "$lines" -gt 1 ]; then
                        log "(d) '$cmd' rc $rc, $lines error lines:"; cat "$XV_TEST_DIR/err"; bad=1
                fi
                # Nothing half-applied: a set that failed part-way took back
                # what it had done, so the journal holds no more for lc.
                n1=$(lc_entries)
                if [ "$rc" != 0 ] && [ "$n1" -gt "$n0" ]; then
                        log "(d) '$cmd' failed (rc $rc) but left $((n1 - n0)) new journal entries for lc"; bad=1
                fi
                [ "$rc" != 0 ] || [ "${cmd%% *}" != set ] || n_set_ok=$((n_set_ok + 1))
                [ "$rc" = 0 ] || [ "${cmd%% *}" != set ] || n_set_failed=$((n_set_failed + 1))
        done
        [ "$(lv_state lc)" = running ] || break
done
wait "$stopper" || true
[ "$bad" = 0 ] || fail "(d) a command on a disappearing domain hung, crashed or printed more than one error line"
err=$("$X" -b libvirt show lc 2>&1 >/dev/null) && fail "(d) show of a gone domain succeeded"
assert_eq 1 "$(echo "$err" | grep -c .)" "(d) one error line for a gone domain ($err)"
log "(d) sets while lc went away: $n_set_ok applied, $n_set_failed failed (each failed one left no entry)"
"$X" -b libvirt reset --all >/dev/null || fail "(d) reset --all after the domain went failed"
assert_eq 0 "$(lc_entries)" "(d) entries for the gone domain lc after reset --all"
pass
