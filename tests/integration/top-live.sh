#!/bin/bash
# `xvsched top` for real, in a tmux terminal (issue 14): against a running
# daemon watching one busybox guest, the rule's domain row (with the
# discovered guest's name), a watched task and an idle-class task that the
# daemon stopped, with why, and the daemon's tick and cost in the header;
# the keys change the screen: s cycles the sort, / filters, p pauses (the
# tick stops moving) and space resumes; a 10x3 terminal shows "too small"
# and top survives it; q exits 0 and leaves the terminal as it was (the
# shell's screen back, echo and canonical mode on), and so does ^\ (131).  Then once more without
# a daemon: read-only discovery, the guest's row, q exits 0; --once prints
# one frame without a terminal; a control socket that never answers,
# trickles bytes, never accepts, or answers nonsense, is said in the header in bounded time (no escape
# sequence of its gets through), and beside one that never answers live top's
# keys still answer (q after six pause/resume pairs within 5 s); -d 0 is one usage line, exit 2; the bash
# completion completes --delay.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_vm
require_cmd tmux
. "$(dirname "$0")/../lib/policy.sh"

step() { log "${SECONDS}s: $*"; }
step "boot"
vm start --name tp1 --pvh --agent --stay --cmd "$GUEST_LIB b hog; b bg; sleep 100000" >/dev/null
vm wait tp1

conf=$XV_TEST_DIR/top.conf
cat >"$conf" <<CONF
[daemon]
interval = 200ms
[domain watched]
match = tp1
[task hog]
domain = watched
comm = hog
priority = 80
[task bg]
domain = watched
comm = bg
class = idle
CONF
step "daemon"
daemon_start "$conf"

# A tmux server of our own (its own socket): our environment, nobody else's sessions.
T=(tmux -S "$XV_TEST_DIR/tmux.sock")
xv_on_exit "${T[*]} kill-server 2>/dev/null || true"
"${T[@]}" -f /dev/null new-session -d -s top -x 120 -y 40 "env -i PATH=$PATH TERM=screen HOME=/root PS1='$ ' XVSCHED_STATE_DIR=$XVSCHED_STATE_DIR bash --norc --noprofile"

screen() { "${T[@]}" capture-pane -t top -p; }
# until_screen REGEX [SECONDS]: wait until the screen matches (grep -E).
until_screen() {
        local i
        for ((i = 0; i < ${2:-10} * 10; i++)); do
                screen | grep -qE -- "$1" && return 0
                sleep 0.1
        done
        screen >&2
        fail "the screen never showed /$1/ within ${2:-10} s"
}
# until_not_screen REGEX [SECONDS]
until_not_screen() {
        local i
        for ((i = 0; i < ${2:-10} * 10; i++)); do
                screen | grep -qE -- "$1" || return 0
                sleep 0.1
        done
        screen >&2
        fail "the screen still shows /$1/ after ${2:-10} s"
}
keys() { "${T[@]}" send-keys -t top "$@"; }
tick_shown() { screen | sed -n 's/.*daemon: tick \([0-9]*\) .*/\1/p' | head -1; }
top_running() { [ "$("${T[@]}" display-message -t top -p '#{pane_current_command}')" = xvsched ]; }

step "top with a daemon"
keys "clear; echo BEFORE-TOP; $X -b qmp top -d 0.3; echo top-rc=\$?" Enter

# The daemon's header, the rule's domain on the guest, the watched tasks.
until_screen 'daemon: tick [0-9]+ every 200 ms, cost observe [0-9]+ us, decide [0-9.]+ us, act [0-9]+ us' 10
until_screen '^watched=tp1 +watched ' 20
until_screen '^  hog +(running|runnable) ' 20
# The idle-class task is stopped by the daemon while hog is busy, and says why.
until_screen '^  bg +stopped .*by xvsched: ' 20
step "top shows the daemon's domain and tasks:"
screen | sed -n '1,8p'

# Sort: s cycles cpu -> name -> weight.
until_screen 'sort: cpu ' 5
keys s
until_screen 'sort: name ' 5
keys s
until_screen 'sort: weight ' 5
keys r
until_screen 'sort: weight \(reversed\)' 5

# Filter: only bg's row under its domain; Esc-less: Enter keeps it.
keys / b g Enter
until_screen 'filter: bg ' 5
until_not_screen '^  hog ' 5
screen | grep -qE '^  bg ' || fail "the filter hid the task it names"
# Clearing it brings hog back.
keys / BSpace BSpace Enter
until_screen 'filter: - ' 5
until_screen '^  hog ' 5

step "sort and filter done"
# Pause: PAUSED in the header, the tick stops moving; space resumes.
keys p
until_screen '^PAUSED ' 5
t0=$(tick_shown)
sleep 1
t1=$(tick_shown)
assert_eq "$t0" "$t1" "tick shown while paused"
keys Space
until_not_screen '^PAUSED ' 5
for ((i = 0; i < 50; i++)); do
        [ "$(tick_shown)" -gt "$t1" ] && break
        sleep 0.1
done
[ "$(tick_shown)" -gt "$t1" ] || fail "the tick did not move after resuming"

step "pause done"
# A 10x3 terminal: one line, and top keeps running; back to 120x40.
"${T[@]}" resize-window -t top -x 10 -y 3
until_screen '^too small' 5
sleep 0.5
top_running || fail "xvsched top died in a 10x3 terminal"
"${T[@]}" resize-window -t top -x 120 -y 40
until_screen '^watched=tp1 ' 5

# q: exit status 0, the shell's screen back, the terminal's modes as before.
keys q
until_screen '^top-rc=0$' 5
screen | grep -q '^BEFORE-TOP$' || fail "the shell's screen was not restored"
screen | grep -q 'daemon: tick' && fail "top's frame is left on the screen"
keys "stty -a | tr ' ;' '\n\n' | grep -xE 'echo|icanon' | sort | tr '\n' ' '; echo" Enter
until_screen '^echo icanon ?$' 5
# ^\ (SIGQUIT, live in cbreak mode): exit status 131, the terminal restored too.
keys "clear; $X -b qmp top -d 0.3; echo top-rc=\$?" Enter
until_screen 'daemon: tick [0-9]+ ' 10
keys 'C-\'
until_screen '^top-rc=131$' 5
screen | grep -q 'daemon: tick' && fail "top's frame is left on the screen after SIGQUIT"
keys "stty -a | tr ' ;' '\n\n' | grep -xE 'echo|icanon' | sort | tr '\n' ' '; echo" Enter
until_screen '^echo icanon ?$' 5

step "q done"
# Without a daemon: read-only discovery, the guest under its own name.
daemon_stop
keys "clear; $X -b qmp top; echo top-rc=\$?" Enter
until_screen 'no daemon: read-only discovery' 10
until_screen '^tp1 +qmp +1 ' 10
top_running || fail "top is not running"
keys q
until_screen '^top-rc=0$' 5

step "no daemon done"
# --once: one frame on a pipe, no terminal needed; without one, live top refuses.
once=$("$X" -b qmp top --once </dev/null)
assert_match '^tp1 +qmp ' "$(grep '^tp1 ' <<<"$once")" "--once row"
# No domain at all is a frame too (it once said "terminal too small").
once=$("$X" -b local top --once </dev/null)
assert_match '^xvsched top .*no daemon' "$(head -1 <<<"$once")" "--once header without domains"
assert_match '^0 domains, 0 tasks' "$(sed -n 2p <<<"$once")" "--once without domains"
rc=0
"$X" top </dev/null >"$XV_TEST_DIR/notty.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status without a terminal"
assert_eq 1 "$(wc -l <"$XV_TEST_DIR/notty.out")" "error lines without a terminal"

# A control socket that never answers, or answers nonsense: top says so in
# its header, in bounded time, and still shows the domains.
fake_daemon() {
        python3 - "$XVSCHED_STATE_DIR/control.sock" "$1" <<'EOF' &
import os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
held = []
end = time.time() + 20
if mode == "full":
    # listens, never accepts, its backlog full before it shows up
    s.bind(path + ".tmp")
    s.listen(0)
    for _ in range(4):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(path + ".tmp")
        except BlockingIOError:
            pass
        held.append(c)
    os.rename(path + ".tmp", path)
    time.sleep(20)
    sys.exit(0)
s.bind(path)
s.listen(8)
while time.time() < end:
    c, _ = s.accept()
    if mode == "garbage":
        c.recv(4096)
        c.sendall(b"\x1b[2J{not json\n")
        c.close()
    elif mode == "trickle":
        # a byte now and then, never a whole reply
        c.recv(4096)
        try:
            while time.time() < end:
                c.sendall(b" ")
                time.sleep(0.3)
        except OSError:
            pass
        c.close()
    else:
        held.append(c)
EOF
        fake_pid=$!
        xv_on_exit "kill $fake_pid 2>/dev/null || true"
        for ((i = 0; i < 50; i++)); do
                [ -S "$XVSCHED_STATE_DIR/control.sock" ] && break
                sleep 0.1
        done
}
rm -f "$XVSCHED_STATE_DIR/control.sock"
fake_daemon silent
start=$(date +%s%N)
once=$(timeout 10 "$X" -b qmp top --once </dev/null) || fail "top --once beside a silent daemon exited $?"
ms=$((($(date +%s%N) - start) / 1000000))
kill "$fake_pid"
wait "$fake_pid" 2>/dev/null || true
assert_match 'no daemon: read-only discovery \(the daemon did not answer: ' "$(head -1 <<<"$once")" "header beside a silent daemon"
grep -q '^tp1 ' <<<"$once" || fail "no domain rows beside a silent daemon"
log "--once beside a silent control socket: $ms ms"
# Live beside it: the frame says so, and the keys answer while each status
# fetch waits out its 1 s (on a thread of its own).  Six pause/resume pairs
# (each resume asks for a frame at once) and q: before, each resumed frame
# waited for the daemon in the key loop, >= 6 s before q was read.
rm -f "$XVSCHED_STATE_DIR/control.sock"
fake_daemon silent
keys "clear; $X -b qmp top -d 0.3; echo top-rc=\$?" Enter
until_screen 'the daemon did not answer' 15
until_screen '^tp1 +qmp ' 5
start=$(date +%s%N)
keys p p p p p p p p p p p p q
until_screen '^top-rc=0$' 15
ms=$((($(date +%s%N) - start) / 1000000))
log "q read after 6 pause/resume pairs beside a silent control socket: $ms ms"
# before: >= 6000 ms (six 1 s fetches in the key loop); 805 ms here at load 28
assert_le "$ms" 5000 "ms from the keys to top's exit beside a silent control socket"
kill "$fake_pid"
wait "$fake_pid" 2>/dev/null || true
# One that sends a byte every 0.3 s and never a whole reply: the same
# (the status timeout bounds the whole reply, not each read).
rm -f "$XVSCHED_STATE_DIR/control.sock"
fake_daemon trickle
once=$(timeout 10 "$X" -b qmp top --once </dev/null) || fail "top --once beside a trickling daemon exited $?"
kill "$fake_pid"
wait "$fake_pid" 2>/dev/null || true
assert_match 'no daemon: read-only discovery \(the daemon did not answer: ' "$(head -1 <<<"$once")" "header beside a trickling daemon"
# One that never accepts, its backlog full (a unix connect() blocks there):
# the same, and xvsched status is one line, non-zero, in bounded time.
rm -f "$XVSCHED_STATE_DIR/control.sock"
fake_daemon full
once=$(timeout 10 "$X" -b qmp top --once </dev/null) || fail "top --once beside a daemon that never accepts exited $?"
assert_match 'no daemon: read-only discovery \(the daemon did not answer: ' "$(head -1 <<<"$once")" "header beside a full backlog"
rc=0
timeout 10 "$X" status >"$XV_TEST_DIR/full.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "xvsched status beside a daemon that never accepts: exit $rc"
assert_eq 1 "$(wc -l <"$XV_TEST_DIR/full.out")" "error lines of status beside a full backlog"
kill "$fake_pid"
wait "$fake_pid" 2>/dev/null || true
rm -f "$XVSCHED_STATE_DIR/control.sock"
fake_daemon garbage
once=$("$X" -b qmp top --once </dev/null) || fail "top --once beside a garbage reply exited $?"
kill "$fake_pid"
wait "$fake_pid" 2>/dev/null || true
assert_match "\(the daemon's status reply is not a status\)" "$(head -1 <<<"$once")" "header beside a garbage reply"
if grep -q $'\x1b' <<<"$once"; then fail "an escape sequence from the socket reached the terminal"; fi

# The command line: -d is --delay; a bad delay is one line and exit 2;
# the completion knows the command and its options.
rc=0
"$X" top -d 0 --once >"$XV_TEST_DIR/bad.out" 2>&1 || rc=$?
assert_eq 2 "$rc" "exit status of top -d 0"
assert_eq 1 "$(wc -l <"$XV_TEST_DIR/bad.out")" "error lines of top -d 0"
assert_match 'delay 0: expected a duration' "$(cat "$XV_TEST_DIR/bad.out")"
"$X" completion bash >"$XV_TEST_DIR/completion.bash"
got=$(bash -c '. "$1"; COMP_WORDS=(xvsched top --d); COMP_CWORD=2; _xvsched; echo "${COMPREPLY[*]}"' _ "$XV_TEST_DIR/completion.bash")
assert_eq "--delay" "$got" "completion of 'xvsched top --d'"

pass "domain, watched and stopped tasks, tick cost shown; sort, filter, pause change the screen; 10x3 survived; q exits 0 and restores the terminal; no-daemon view and --once work"
