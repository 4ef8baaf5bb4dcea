#!/bin/bash
# The qemu-guest-agent view against the real qemu-ga (Debian's
# qemu-guest-agent), run on this host as `qemu-ga -m unix-listen`: this
# host stands in for the guest, a local domain names the agent's socket
# (,qga=PATH).  ps lists what /proc lists; stop/cont/nice act on a sleeper
# this test started; killing xvsched mid-stop leaves the sleeper stopped only
# until the guest-side watchdog's lease runs out (also when wd.pid names a
# live process that is not the watchdog: a reused pid); a process stopped by
# someone else stays stopped after a hold; a comm with a newline or the name
# qemu-ga neither breaks the list nor shields a process; an agent that forbids
# guest-exec, or one that never answers, gives one line and a bounded wait.
# A booted Debian guest is docs/qga.md's manual check.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd qemu-ga python3

X="$XV_BUILD/src/cli/xvsched"
export XVSCHED_STATE_DIR=$XV_TEST_DIR/state
mkdir -m 700 "$XVSCHED_STATE_DIR"
# The watchdog's files: here, not in this host's /run/xvsched-qga.
export XVSCHED_QGA_DIR=$XV_TEST_DIR/guest-state

# start_qga NAME [qemu-ga options...]: the socket is $XV_TEST_DIR/NAME.sock
start_qga() {
        local name=$1
        shift
        mkdir -p "$XV_TEST_DIR/$name.d"
        qemu-ga -m unix-listen -p "$XV_TEST_DIR/$name.sock" -t "$XV_TEST_DIR/$name.d" \
                -f "$XV_TEST_DIR/$name.pid" "$@" >"$XV_TEST_DIR/$name.log" 2>&1 &
        local pid=$!
        echo "$pid" >"$XV_TEST_DIR/$name.qpid"
        xv_on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
        local i
        for i in $(seq 50); do
                [ -S "$XV_TEST_DIR/$name.sock" ] && return 0
                sleep 0.1
        done
        fail "qemu-ga $name did not start: $(cat "$XV_TEST_DIR/$name.log")"
}

state_of() { sed -n 's/^State:\s*\(.\).*/\1/p' "/proc/$1/status"; }
nice_of() { awk '{ sub(/.*\) /, ""); print $17 }' "/proc/$1/stat"; }

start_qga ga
sleep 100000 &
S=$!
xv_on_exit "kill -CONT $S 2>/dev/null; kill $S 2>/dev/null"
D=(-b local --local "qg=pid:$S,qga=$XV_TEST_DIR/ga.sock")
# Guest processes that try their names: a newline in the comm (stat then
# spans two lines), and one that calls itself qemu-ga.
python3 -c 'import ctypes, time; ctypes.CDLL(None).prctl(15, b"ev\nil) x", 0, 0, 0); time.sleep(100000)' &
NL=$!
python3 -c 'import ctypes, time; ctypes.CDLL(None).prctl(15, b"qemu-ga", 0, 0, 0); time.sleep(100000)' &
SPOOF=$!
xv_on_exit "kill -CONT $NL $SPOOF 2>/dev/null; kill $NL $SPOOF 2>/dev/null"
for i in $(seq 50); do grep -q qemu-ga "/proc/$SPOOF/comm" && grep -q il "/proc/$NL/comm" && break; sleep 0.1; done

# --- list: the qga path, and whether the agent lets us guest-exec ----------
path_of() {   # JSON DOMAIN FIELD: paths.FIELD
        echo "$1" | python3 -c "import json,sys
d=[d for d in json.load(sys.stdin) if d['name']==sys.argv[1]][0]
print(d['paths'][sys.argv[2]])" "$2" "$3"
}
json=$("$X" "${D[@]}" list --json) || fail "list --json failed"
assert_eq "channel ($XV_TEST_DIR/ga.sock), guest-exec allowed" "$(path_of "$json" qg qga)" "list: qga path of an agent that allows guest-exec"
assert_eq "qga" "$(path_of "$json" qg stop)" "list: stop path through qemu-guest-agent"
"$X" "${D[@]}" list | grep -A1 '^qg ' | sed "s/^/$XV_TEST_NAME: /"

# --- ps: one guest-exec, every thread /proc has before and after -----------
tids() { for t in /proc/[0-9]*/task/[0-9]*; do echo "${t##*/}"; done; }
tids >"$XV_TEST_DIR/before"
"$X" "${D[@]}" ps qg --via qga --json >"$XV_TEST_DIR/ps.json" || fail "ps --via qga failed"
tids >"$XV_TEST_DIR/after"
python3 - "$XV_TEST_DIR" "$S" "$(cat "$XV_TEST_DIR/ga.qpid")" "$NL" "$SPOOF" <<'EOF' || fail "ps --via qga does not match /proc"
import json, sys
d, sleeper, gapid, nl, spoof = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ps = json.load(open(d + "/ps.json"))
assert ps["view"] == "qga", ps["view"]
tids = {t["tid"] for t in ps["tasks"]}
both = set(map(int, open(d + "/before").read().split())) & set(map(int, open(d + "/after").read().split()))
missing = both - tids
assert not missing, f"{len(missing)} of {len(both)} threads missing: {sorted(missing)[:10]}"
s = [t for t in ps["tasks"] if t["pid"] == sleeper]
assert len(s) == 1 and s[0]["comm"] == "sleep" and s[0]["state"] == "S" and s[0]["cmdline"] == "sleep 100000", s
ga = [t for t in ps["tasks"] if t["pid"] == gapid]
assert ga and all(t["is_agent"] for t in ga), ga
sp = [t for t in ps["tasks"] if t["pid"] == spoof]
assert len(sp) == 1 and sp[0]["comm"] == "qemu-ga" and not sp[0]["is_agent"], sp
n = [t for t in ps["tasks"] if t["pid"] == nl]
assert len(n) == 1 and n[0]["comm"] == "ev?il) x", n
k = [t for t in ps["tasks"] if t["is_kthread"]]
assert k and all(t["pid"] != 1 for t in k), "kernel threads are flagged"
print(f"ps --via qga: {len(tids)} threads, all {len(both)} stable ones of /proc")
EOF
out=$("$X" "${D[@]}" ps qg --via qga)
assert_match "^view: qga" "$out" "ps names its view"

# --- command lines survive process churn: the reader's awk was given every
# cmdline file at once, and mawk stops at the first that is gone (a process
# exited since the walk): every later process lost its command line.
( while :; do sleep 0.2 & sleep 0.05; done ) </dev/null >/dev/null 2>&1 &
churn=$!
xv_on_exit "kill $churn 2>/dev/null"
sleep 1
sleep 100001 &
S2=$!
xv_on_exit "kill $S2 2>/dev/null"
miss=0
for i in 1 2 3 4 5 6; do
        "$X" "${D[@]}" ps qg --via qga --json >"$XV_TEST_DIR/churn.json" || fail "ps --via qga beside churn failed"
        python3 -c 'import json, sys
t = [t for t in json.load(open(sys.argv[1]))["tasks"] if t["pid"] in (int(sys.argv[2]), int(sys.argv[3]))]
sys.exit(0 if sorted(x["cmdline"] for x in t) == ["sleep 100000", "sleep 100001"] else 1)' \
                "$XV_TEST_DIR/churn.json" "$S" "$S2" || miss=$((miss + 1))
done
kill "$churn" "$S2" 2>/dev/null || true
assert_eq 0 "$miss" "ps rounds beside process churn that lost a command line"
assert_match "\(qemu-guest-agent\)" "$out" "qemu-ga is marked as the agent"

# --- stop, held 3 s, then resumed ------------------------------------------
"$X" "${D[@]}" stop qg "$S" --via qga --for 3 >"$XV_TEST_DIR/stop.out" 2>&1 &
h=$!
for i in $(seq 100); do [ "$(state_of "$S")" = T ] && break; sleep 0.1; done
assert_eq T "$(state_of "$S")" "the sleeper's state while stopped"
wait "$h" || fail "stop --via qga failed: $(cat "$XV_TEST_DIR/stop.out")"
assert_match "through qga socket .*resumes" "$(cat "$XV_TEST_DIR/stop.out")" "stop names its path"
assert_match "^resumed" "$(tail -1 "$XV_TEST_DIR/stop.out")" "stop resumes at the end"
assert_eq S "$(state_of "$S")" "the sleeper's state after the hold"

# --- nice, held 3 s, then restored -----------------------------------------
n0=$(nice_of "$S")   # the test may run under nice(1)
"$X" "${D[@]}" nice qg "$S" 7 --via qga --for 3 >"$XV_TEST_DIR/nice.out" 2>&1 &
h=$!
for i in $(seq 100); do [ "$(nice_of "$S")" = 7 ] && break; sleep 0.1; done
assert_eq 7 "$(nice_of "$S")" "the sleeper's nice while held"
wait "$h" || fail "nice --via qga failed: $(cat "$XV_TEST_DIR/nice.out")"
assert_eq "$n0" "$(nice_of "$S")" "the sleeper's nice after the hold"

# --- cont --via qga of a process stopped by hand -----------------------------
kill -STOP "$S"
"$X" "${D[@]}" cont qg "$S" --via qga >/dev/null || fail "cont --via qga failed"
assert_eq S "$(state_of "$S")" "the sleeper's state after cont"

# --- names are no shield: a comm with a newline, a comm "qemu-ga" ----------
for p in "$NL" "$SPOOF"; do
        "$X" "${D[@]}" stop qg "$p" --via qga --for 1 >"$XV_TEST_DIR/stopn.out" 2>&1 ||
                fail "stop --via qga of $p ($(tr '\n' '?' <"/proc/$p/comm")) failed: $(cat "$XV_TEST_DIR/stopn.out")"
        # just resumed, it may still be on its way back to sleep (R): what
        # matters is that it is no longer stopped
        for i in $(seq 50); do [ "$(state_of "$p")" = S ] && break; sleep 0.1; done
        assert_eq S "$(state_of "$p")" "state of $p after its hold"
done

# --- a process stopped by someone else stays stopped after a hold ----------
sleep 100000 &
O=$!
xv_on_exit "kill -CONT $O 2>/dev/null; kill $O 2>/dev/null"
kill -STOP "$O"
"$X" "${D[@]}" stop qg "$O" --via qga --for 1 >"$XV_TEST_DIR/stopo.out" 2>&1 ||
        fail "stop --via qga of a stopped process failed: $(cat "$XV_TEST_DIR/stopo.out")"
assert_eq T "$(state_of "$O")" "state of a process the operator stopped, after xvsched's hold"
[ ! -s "$XVSCHED_QGA_DIR/stop" ] || fail "a process stopped by someone else was recorded"
kill -CONT "$O"

# --- kill -9 of xvsched mid-stop: the guest-side watchdog resumes ---------
# ... even when wd.pid names a live process that is not the watchdog (the
# watchdog died, its pid was reused): it must not pass for the watchdog.
for i in $(seq 50); do [ -e "$XVSCHED_QGA_DIR/wd.pid" ] || break; sleep 0.1; done
[ ! -e "$XVSCHED_QGA_DIR/wd.pid" ] || fail "the watchdog did not exit once nothing was held"
echo "$O" >"$XVSCHED_QGA_DIR/wd.pid"
"$X" "${D[@]}" stop qg "$S" --via qga >"$XV_TEST_DIR/stop2.out" 2>&1 &
h=$!
for i in $(seq 100); do [ "$(state_of "$S")" = T ] && break; sleep 0.1; done
assert_eq T "$(state_of "$S")" "the sleeper's state before the kill"
kill -9 "$h"
wait "$h" 2>/dev/null || true
t0=$(date +%s)
# The lease is 10 s of silence (in 1 s steps); allow a loaded machine 40 s.
for i in $(seq 400); do [ "$(state_of "$S")" = T ] || break; sleep 0.1; done
t1=$(date +%s)
assert_eq S "$(state_of "$S")" "the sleeper's state after xvsched died and the lease ran out"
log "the watchdog resumed the sleeper $((t1 - t0)) s after xvsched was killed"
for i in $(seq 50); do [ -e "$XVSCHED_QGA_DIR/wd.pid" ] || break; sleep 0.1; done
[ ! -e "$XVSCHED_QGA_DIR/wd.pid" ] || fail "the watchdog did not exit after undoing"
[ ! -s "$XVSCHED_QGA_DIR/stop" ] || fail "the watchdog left its stop list"

# --- an agent that forbids guest-exec: one line, the next path -------------
start_qga blocked --block-rpcs=guest-exec
B=(-b local --local "qb=pid:$S,qga=$XV_TEST_DIR/blocked.sock")
set +e
"$X" "${B[@]}" ps qb --via qga >"$XV_TEST_DIR/b.out" 2>"$XV_TEST_DIR/b.err"
rc=$?
set -e
assert_eq 1 "$rc" "ps --via qga against a qemu-ga without guest-exec"
assert_eq 1 "$(wc -l <"$XV_TEST_DIR/b.err")" "lines of error"
assert_match "forbids guest-exec" "$(cat "$XV_TEST_DIR/b.err")" "the reason"
set +e
"$X" "${B[@]}" ps qb 2>"$XV_TEST_DIR/b2.err" >/dev/null
set -e
assert_match "no qga view: .*forbids guest-exec.*; no vmi view" "$(cat "$XV_TEST_DIR/b2.err")" "auto goes on to vmi"
set +e
"$X" "${B[@]}" stop qb "$S" --via qga --for 1 2>"$XV_TEST_DIR/b3.err" >/dev/null
set -e
assert_eq S "$(state_of "$S")" "nothing stopped through an agent without guest-exec"
json=$("$X" "${B[@]}" list --json) || fail "list --json beside an agent without guest-exec failed"
assert_eq "channel ($XV_TEST_DIR/blocked.sock), forbids guest-exec" "$(path_of "$json" qb qga)" "list: why there is no qga path"
assert_match "^none \(no xvagent; qemu-guest-agent cannot guest-exec\)" "$(path_of "$json" qb stop)" "list: no stop path, and why"

# --- an agent that accepts and never answers: bounded, one line -----------
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
c = []
while True:
    c.append(s.accept()[0])
' "$XV_TEST_DIR/silent.sock" &
sp=$!
xv_on_exit "kill $sp 2>/dev/null"
for i in $(seq 50); do [ -S "$XV_TEST_DIR/silent.sock" ] && break; sleep 0.1; done
t0=$(date +%s)
set +e
"$X" -b local --local "qs=pid:$S,qga=$XV_TEST_DIR/silent.sock" ps qs --via qga 2>"$XV_TEST_DIR/s.err" >/dev/null
rc=$?
set -e
t1=$(date +%s)
assert_eq 1 "$rc" "ps against a silent agent"
assert_eq 1 "$(wc -l <"$XV_TEST_DIR/s.err")" "lines of error"
assert_match "timed out" "$(cat "$XV_TEST_DIR/s.err")" "the reason"
assert_le $((t1 - t0)) 30 "seconds against a silent agent"
t0=$(date +%s)
json=$("$X" -b local --local "qs=pid:$S,qga=$XV_TEST_DIR/silent.sock" list --json) || fail "list beside a silent agent failed"
t1=$(date +%s)
assert_match "^channel \(.*\), no answer \(" "$(path_of "$json" qs qga)" "list: a silent agent"
assert_le $((t1 - t0)) 15 "seconds of list beside a silent agent (its probe waits 2 s)"

# --- agents that answer garbage (after a good sync) or flood: one line,
# bounded, nothing stopped ---------------------------------------------------
for mode in garbage flood; do
        python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
mode = sys.argv[2]
while True:
    c = s.accept()[0]
    try:
        buf = b""
        while True:
            b = c.recv(4096)
            if not b:
                break
            buf += b
            if mode == "garbage":
                # our sync is answered as QGA does; everything after it is garbage
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    try:
                        req = json.loads(line.lstrip(b"\xff"))
                    except ValueError:
                        req = {}
                    if req.get("execute") == "guest-sync-delimited":
                        c.sendall(b"\xff" + json.dumps({"return": req["arguments"]["id"]}).encode() + b"\n")
                    else:
                        c.sendall(b"{\"return\": {\"pid\": 12,,,\n]]]\x00\x01 not json\n")
            else:
                while True:
                    c.sendall(b"x" * 65536)
    except OSError:
        pass
    c.close()
' "$XV_TEST_DIR/$mode.sock" "$mode" &
        fp=$!
        xv_on_exit "kill $fp 2>/dev/null"
        for i in $(seq 50); do [ -S "$XV_TEST_DIR/$mode.sock" ] && break; sleep 0.1; done
        for cmd in "ps q$mode --via qga" "stop q$mode $S --via qga --for 1"; do
                t0=$(date +%s)
                rc=0
                # shellcheck disable=SC2086
                timeout 60 "$X" -b local --local "q$mode=pid:$S,qga=$XV_TEST_DIR/$mode.sock" $cmd \
                        >/dev/null 2>"$XV_TEST_DIR/$mode.err" || rc=$?
                t1=$(date +%s)
                [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "'$cmd' against a $mode agent: exit $rc"
                assert_eq 1 "$(grep -c . "$XV_TEST_DIR/$mode.err")" "error lines of '$cmd' against a $mode agent ($(head -c 300 "$XV_TEST_DIR/$mode.err"))"
                assert_le $((t1 - t0)) 30 "seconds of '$cmd' against a $mode agent"
                assert_eq S "$(state_of "$S")" "the sleeper after '$cmd' against a $mode agent"
                log "$mode agent, $cmd: $(cat "$XV_TEST_DIR/$mode.err") ($((t1 - t0)) s)"
        done
        kill "$fp" 2>/dev/null || true
done

pass "ps, stop, nice, cont through qemu-ga; watchdog resume after kill -9; no-exec, silent, garbage and flooding agents refused in one line; list says which"
