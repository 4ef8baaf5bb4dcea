#!/bin/bash
# Untrusted QEMU look-alikes (issue 9, defect 1).  Three fake "QEMU"s run
# beside a real guest:
#   A  user nobody, a root-owned copy of python3 named qemu-system-x86_64 in
#      a root-owned directory, -name uq-web-N, a QMP "listener" that never
#      accepts and whose backlog is full (a blocking connect would hang);
#   B  the same, but named like the real guest;
#   C  root, the same copy but in a world-writable sticky directory (a /tmp).
# `xvsched -b qmp list` finishes in bounded time and lists only the real
# guest (once, with its own pid); `set` on a fake's name fails with one line
# and journals nothing; `set` on the real guest's name acts on the real guest
# only: the look-alike's cgroup and threads are untouched.  With a second
# trusted QEMU of the real guest's name, the daemon leaves that name alone and
# set and a daemon start refuse it.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_vm
require_cmd setpriv timeout
getent passwd nobody >/dev/null || skip "no user 'nobody'"
nobody_group=$(id -gn nobody)

X="$XV_BUILD/src/cli/xvsched"
export XVSCHED_STATE_DIR="$XV_TEST_DIR/state"
# Names of our own: other tests may run guests beside this one.
R="uq-real-$$"
W="uq-web-$$"
C="uq-root-$$"

vm start --name "$R" --cmd "sleep 1000" --stay >/dev/null
preal=$(vm pid "$R")

# The fake: listens on the path of its -qmp with a backlog of 0, connects to
# itself until that backlog is full, never accepts, says it is ready.
fake_py='import socket, sys, time
path = sys.argv[sys.argv.index("-qmp") + 1][len("unix:"):].split(",")[0]
l = socket.socket(socket.AF_UNIX)
l.bind(path)
l.listen(0)
held = []
while True:
    c = socket.socket(socket.AF_UNIX)
    c.setblocking(False)
    try:
        c.connect(path)
    except BlockingIOError:
        break
    held.append(c)
open(path + ".ready", "w").close()
time.sleep(1000)'

# The system's python binary itself (not a wrapper such as a pyenv shim):
# nobody must be able to run a copy of it.
py=$(readlink -f /usr/bin/python3 2>/dev/null) || true
[ -n "$py" ] && [ -x "$py" ] || skip "no /usr/bin/python3 to copy as the fake QEMU"
bin="$XV_TEST_DIR/bin"          # root's, 0755: only the owner makes it untrusted
wtmp="$XV_TEST_DIR/wtmp"        # root's, 1777: like /tmp
home="$XV_TEST_DIR/nobody"      # nobody's sockets
mkdir -p "$bin" "$wtmp" "$home" "$XVSCHED_STATE_DIR"
install -o root -g root -m 0755 "$py" "$bin/qemu-system-x86_64"
install -o root -g root -m 0755 "$py" "$wtmp/qemu-system-x86_64"
chmod 1777 "$wtmp"
chown nobody "$home"

fake_pids=()
xv_on_exit 'for p in "${fake_pids[@]}"; do kill "$p" 2>/dev/null; done'
as_nobody() { exec setpriv --reuid=nobody --regid="$nobody_group" --clear-groups "$@"; }

as_nobody "$bin/qemu-system-x86_64" -c "$fake_py" -name "$W" -qmp "unix:$home/a.sock,server,wait=off" \
        </dev/null >>"$XV_TEST_DIR/fakes.log" 2>&1 &
pa=$!
fake_pids+=("$pa")
as_nobody "$bin/qemu-system-x86_64" -c "$fake_py" -name "$R,debug-threads=on" \
        -qmp "unix:$home/b.sock,server,wait=off" </dev/null >>"$XV_TEST_DIR/fakes.log" 2>&1 &
pb=$!
fake_pids+=("$pb")
"$wtmp/qemu-system-x86_64" -c "$fake_py" -name "$C" -qmp "unix:$XV_TEST_DIR/c.sock,server,wait=off" \
        </dev/null >>"$XV_TEST_DIR/fakes.log" 2>&1 &
pc=$!
fake_pids+=("$pc")

for f in "$home/a.sock" "$home/b.sock" "$XV_TEST_DIR/c.sock"; do
        for ((i = 0; i < 100; i++)); do
                [ -e "$f.ready" ] && break
                sleep 0.1
        done
        [ -e "$f.ready" ] || fail "fake QEMU listening on $f did not come up: $(cat "$XV_TEST_DIR/fakes.log")"
done
# The fakes run as planned (as_nobody execs: $! is the fake itself).
ruid() { awk '/^Uid:/ { print $2 }' "/proc/$1/status"; }
assert_eq "$(id -u nobody)" "$(ruid "$pa")" "fake A runs as nobody"
assert_eq "$(id -u nobody)" "$(ruid "$pb")" "fake B runs as nobody"
assert_eq 0 "$(ruid "$pc")" "fake C runs as root"
for p in "$pa" "$pb" "$pc"; do
        assert_match "/qemu-system-x86_64 -c " "$(tr '\0' ' ' <"/proc/$p/cmdline")" "fake $p's command line"
done
vm wait "$R"

# --- discovery: bounded, only the real guest -------------------------------
t0=$(date +%s%N)
rc=0
json=$(timeout 20 "$X" -b qmp list --json --window 100) || rc=$?
took_ms=$((($(date +%s%N) - t0) / 1000000))
log "xvsched -b qmp list took ${took_ms} ms (rc $rc)"
assert_eq 0 "$rc" "list beside fakes that never accept exits 0 (124: it hung)"
assert_le "$took_ms" 10000 "list time in ms"
pids_named() { # NAME -> the pids of domains so named
        echo "$json" | python3 -c "import json,sys; print(' '.join(str(d['pid']) for d in json.load(sys.stdin) if d['name']=='$1'))"
}
assert_eq "$preal" "$(pids_named "$R")" "the real guest is listed once, with its own pid"
assert_eq "" "$(pids_named "$W")" "nobody's fake A is not listed"
assert_eq "" "$(pids_named "$C")" "root's fake C from a world-writable directory is not listed"
all_pids=$(echo "$json" | python3 -c 'import json,sys; print(" ".join(str(d["pid"]) for d in json.load(sys.stdin)))')
for p in "$pa" "$pb" "$pc"; do
        case " $all_pids " in *" $p "*) fail "fake pid $p is listed as a domain" ;; esac
done

# With -v, each is named as ignored, and why.
dbg=$(timeout 20 "$X" -v -b qmp list --window 10 2>&1 >/dev/null) || fail "list -v failed"
assert_match "pid $pa: QEMU look-alike .*ignored: owned by a user" "$dbg" "fake A is reported as untrusted"
assert_match "pid $pc: QEMU look-alike .*ignored: .*directory" "$dbg" "fake C is reported as untrusted"

# --- levers: never on a fake -----------------------------------------------
journal_entries() {
        [ -f "$XVSCHED_STATE_DIR/state.json" ] || { echo 0; return; }
        python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("entries", [])))' \
                "$XVSCHED_STATE_DIR/state.json"
}
for name in "$W" "$C"; do
        rc=0
        err=$(timeout 20 "$X" -b qmp set "$name" weight=400 2>&1 >/dev/null) || rc=$?
        [ "$rc" != 0 ] || fail "set $name weight=400 succeeded on a fake"
        [ "$rc" != 124 ] || fail "set $name weight=400 hung"
        assert_eq 1 "$(printf '%s\n' "$err" | wc -l)" "set $name: one error line ('$err')"
        assert_match "no domain named '$name'" "$err" "set $name: says why"
        assert_eq 0 "$(journal_entries)" "set $name: nothing journaled"
done

# The look-alike of the real guest: the real one gets the lever, the fake's
# cgroup and threads stay as they were.
fake_state() { # PID -> its cgroups, then per thread: tid nice policy
        cat "/proc/$1/cgroup"
        for t in /proc/"$1"/task/*; do
                echo "${t##*/} $(sed 's/.*) //' "$t/stat" | awk '{print $17, $39}')"
        done
}
before=$(fake_state "$pb")
timeout 20 "$X" -b qmp set "$R" weight=400 >/dev/null || fail "set $R weight=400 on the real guest failed"
grep -q "\"pid\": *$pb\b\|\"tid\": *$pb\b" "$XVSCHED_STATE_DIR/state.json" &&
        fail "the journal names the fake's pid $pb"
assert_eq "$before" "$(fake_state "$pb")" "fake B's cgroup and threads after set $R"
timeout 20 "$X" -b qmp reset "$R" >/dev/null || fail "reset $R failed"
assert_eq 0 "$(journal_entries)" "reset $R leaves no entry"
assert_eq "$before" "$(fake_state "$pb")" "fake B's cgroup and threads after reset $R"

# --- a unique match at run time ---------------------------------------------
# A daemon drives the real guest; then root starts a second QEMU-like process
# of the same name from a root-only directory (trusted: root's own choice).
# The daemon must leave the name alone (warning) instead of picking one, and
# set/start must refuse the ambiguous name.
printf '[domain %s]\nview = agent\n' "$R" >"$XV_TEST_DIR/uq.conf"
"$X" -b qmp run "$XV_TEST_DIR/uq.conf" >"$XV_TEST_DIR/daemon.log" 2>&1 &
dpid=$!
xv_on_exit "kill -TERM $dpid 2>/dev/null && wait $dpid 2>/dev/null"
for ((i = 0; i < 100; i++)); do
        [ -S "$XVSCHED_STATE_DIR/control.sock" ] && "$X" status >/dev/null 2>&1 && break
        kill -0 "$dpid" 2>/dev/null || fail "xvsched run exited: $(cat "$XV_TEST_DIR/daemon.log")"
        sleep 0.1
done
"$bin/qemu-system-x86_64" -c "$fake_py" -name "$R" -qmp "unix:$XV_TEST_DIR/d.sock,server,wait=off" \
        </dev/null >>"$XV_TEST_DIR/fakes.log" 2>&1 &
pd=$!
fake_pids+=("$pd")
for ((i = 0; i < 150; i++)); do
        grep -q "2 domains are named '$R' now" "$XV_TEST_DIR/daemon.log" && break
        sleep 0.1
done
grep -q "2 domains are named '$R' now" "$XV_TEST_DIR/daemon.log" ||
        fail "the daemon did not notice two domains named $R: $(tail -5 "$XV_TEST_DIR/daemon.log")"
kill -0 "$dpid" 2>/dev/null || fail "the daemon exited: $(tail -5 "$XV_TEST_DIR/daemon.log")"
rc=0
err=$(timeout 20 "$X" -b qmp set "$R" weight=400 2>&1 >/dev/null) || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "set on an ambiguous name: rc $rc"
assert_match "2 domains are named '$R'" "$err" "set on an ambiguous name says so"
rc=0
err=$(timeout 20 "$X" -b qmp run "$XV_TEST_DIR/uq.conf" --state-dir="$XV_TEST_DIR/state2" 2>&1 >/dev/null) || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "a daemon started on an ambiguous name: rc $rc"
assert_match "2 domains are named '$R'" "$err" "start on an ambiguous name says so"
kill "$pd"
wait "$pd" 2>/dev/null || true
kill -TERM "$dpid"
wait "$dpid" || fail "xvsched run exited with $?: $(tail -5 "$XV_TEST_DIR/daemon.log")"
assert_eq 0 "$(journal_entries)" "the daemon left no entry"

pass "look-alikes ignored (list in ${took_ms} ms), the real guest still found and driven"
