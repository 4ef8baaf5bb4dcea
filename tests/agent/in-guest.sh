#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# xvagent in a real TCG guest, driven from the host through the agent client
# (tools/ctl/agent-ctl) over QEMU's chardev socket for the virtio-serial
# port: the guest's init starts the agent; the guest command starts a
# CPU-bound loop and a sleeper.  Checks quick reconnects, states, stop/cont
# by CPU time, nice, malformed input, and the lease-based resume after the
# host disconnects.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd "${XV_QEMU:-qemu-system-x86_64}" python3 base64
xvagent=$XV_BUILD/agent/xvagent
ctl_bin=$XV_BUILD/tools/ctl/agent-ctl
[ -x "$xvagent" ] || fail "$xvagent not built"
[ -x "$ctl_bin" ] || fail "$ctl_bin not built"
if ldd "$xvagent" >/dev/null 2>&1; then
        skip "$xvagent is dynamically linked (sanitizer build?); guests need the static one"
fi

# A private image with this build's agent, reusing the shared kernel cache.
img=$XV_BUILD/guest-agent
mkdir -p "$img"
if [ -d "$XV_BUILD/guest/cache" ] && [ ! -e "$img/cache" ]; then
        ln -s "$XV_BUILD/guest/cache" "$img/cache"
fi
"$XV_SRC/tools/vm/mkimage" --out "$img" --bin "$xvagent" >&2 || fail "tools/vm/mkimage failed"

# shellcheck disable=SC2016  # expanded in the guest
script='while :; do :; done &
echo "BUSY $!"
sleep 1000 &
echo "SLEEPER $!"
sleep 3600'
vm start --name ag --image "$img" --pvh --cpus 2 --mem 128 --agent --cmd "$script" >/dev/null
vm wait ag --timeout 180 || fail "guest did not boot"
console_has ag '^SLEEPER [0-9]+' 30 || fail "guest command did not start"
console_has ag 'started xvagent' 5 || fail "guest init did not start xvagent"
c=$(vm console ag)
busy=$(tr -d '\r' < "$c" | sed -n 's/^BUSY \([0-9]*\)$/\1/p' | head -1)
sleeper=$(tr -d '\r' < "$c" | sed -n 's/^SLEEPER \([0-9]*\)$/\1/p' | head -1)
log "guest pids: busy $busy, sleeper $sleeper ($(cat "$XV_RUN/ag.accel" 2>/dev/null || echo ?))"

sock=$XV_RUN/ag.agent
[ -S "$sock" ] || fail "no agent socket at $sock"
# Every call is a new connection: the guest sees the host come and go.
ctl() { "$ctl_bin" -t 30000 "$sock" "$@"; }
# wait_state PID STATE: signals act when the target next runs (slow in TCG).
wait_state() {
        local i s=""
        for ((i = 0; i < 20; i++)); do
                s=$(ctl state "$1") && [ "$s" = "$2" ] && return 0
                sleep 0.5
        done
        fail "pid $1: state '$s', expected '$2'"
}

hello=$(ctl hello) || fail "hello failed"
assert_match '^protocol 1$' "$(grep ^protocol <<<"$hello")" "protocol"
assert_match '^cpus 2$' "$(grep ^cpus <<<"$hello")" "guest CPUs"
log "hello: $(grep ^kernel <<<"$hello")"

# Quick reconnects.  The guest hears that a host left or came from control
# messages its driver handles after the data, so the agent may read a new
# host's requests while the port still says POLLHUP; it used to throw the
# replies away then (write EAGAIN, POLLHUP) and the host waited in vain.
# reconnect: connect, sync, hello, stats, disconnect, the next host at once
# (the client resends sync, so mostly a lost hello shows).  burst: 100 ms
# apart (the agent has seen the host go), 0xFF + sync + hello + stats sent at
# once, all three replies wanted.  Bounded: 10 s and 15 s, 5 s per cycle.
out=$("$ctl_bin" -t 5000 "$sock" reconnect 200 10) || fail "reconnect cycles: ${out:-no result}"
log "reconnects: $out"
out=$("$ctl_bin" -t 5000 "$sock" burst 80 15) || fail "reconnect bursts: ${out:-no result}"
log "reconnects: $out"

tasks=$(ctl tasks) || fail "tasks failed"
assert_match "^ *$busy +$busy +sh +R " "$(grep -E "^ *$busy +$busy " <<<"$tasks")" "busy loop listed as running"
assert_match "^ *$sleeper +$sleeper +sleep +S .* sleep 1000$" "$(grep -E "^ *$sleeper +$sleeper " <<<"$tasks")" "sleeper listed as sleeping"
assert_eq 1 "$(grep -c '\[agent\]$' <<<"$tasks")" "the agent reported once, separately"
assert_eq 0 "$(grep -E ' xvagent ' <<<"$tasks" | grep -vc '\[agent\]$' || true)" "the agent not among the tasks"
assert_eq 1 "$(grep -E '^ *1 +1 +init ' <<<"$tasks" | wc -l)" "init listed"

# Stop: state T and the CPU time stops growing; cont: it grows again.
ctl stop "$busy" || fail "stop failed"
wait_state "$busy" T
c1=$(ctl cpu "$busy")
sleep 2
c2=$(ctl cpu "$busy")
assert_eq "$c1" "$c2" "CPU time of the stopped loop"
ctl cont "$busy" || fail "cont failed"
wait_state "$busy" R
sleep 2
c3=$(ctl cpu "$busy")
[ "$c3" -gt $((c2 + 200000000)) ] || fail "CPU time did not grow after cont: $c2 -> $c3"
log "stop/cont: cpu_ns $c1 -> $c2 (stopped 2 s) -> $c3 (running 2 s)"

# Renice: the guest's /proc shows it (the agent reads it back from there).
ctl nice "$busy" 10 >/dev/null || fail "nice failed"
assert_eq 10 "$(ctl nice-of "$busy")" "nice in the guest's /proc"

# Errors, not crashes.
out=$(ctl stop 1 2>&1) && fail "stopping init succeeded"
assert_match 'PermissionDenied' "$out" "stop init"
out=$(ctl stop 4000000 2>&1) && fail "stopping a missing pid succeeded"
assert_match 'NotFound' "$out" "stop missing pid"
python3 - "$sock" <<'PY' || fail "malformed requests over the real port"
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(30)
s.sendall(b'\xff{\n[1]\n{"execute":7}\n' + b'a' * 9000 + b'\n{"execute":"stats","id":5}\n')
buf = b''
while buf.count(b'\n') < 5:
    d = s.recv(65536)
    if not d:
        sys.exit('agent closed the connection')
    buf += d
lines = buf.split(b'\n')
for want in (b'ParseError', b'InvalidRequest', b'TooLarge', b'"id":5'):
    if not any(want in l for l in lines):
        sys.exit('no %r in %r' % (want, buf))
PY
ctl hello >/dev/null || fail "agent gone after malformed requests"

# The lease: stop it, disconnect, stay silent; the agent resumes it and
# restores its nice value within the lease.
ctl lease 3 >/dev/null || fail "lease failed"
ctl stop "$busy" || fail "stop failed"
t0=$(date +%s)
# Watch from the host side without talking to the agent: QEMU's CPU time
# falls while the loop is stopped and rises again when the agent resumes it
# on its own.
qpid=$(vm pid ag)
sleep 0.3
a=$(proc_cpu_ns "$qpid"); sleep 1; b=$(proc_cpu_ns "$qpid")
idle=$((b - a))
while [ $(($(date +%s) - t0)) -lt 5 ]; do sleep 0.2; done
a=$(proc_cpu_ns "$qpid"); sleep 1; b=$(proc_cpu_ns "$qpid")
busy_ns=$((b - a))
log "QEMU CPU per second: ${idle} ns while stopped, ${busy_ns} ns after the lease ran out"
# The host may be loaded (the vCPU gets what it gets): only ask for clearly more.
[ "$busy_ns" -gt $((idle + 50000000)) ] ||
        fail "the guest did not get busy again after the lease (stopped $idle ns/s, after $busy_ns ns/s)"
state=$(ctl state "$busy")
assert_eq R "$state" "state after the lease expired"
assert_eq 0 "$(ctl nice-of "$busy")" "nice restored after the lease expired"
exp=$(ctl stats | sed -n 's/^lease_expiries //p')
[ "$exp" -ge 1 ] || fail "agent reports no lease expiry"
log "lease: resumed and restored after the host went silent (lease expiries: $exp)"

# Release: undo on request.
ctl lease 60 >/dev/null && ctl stop "$sleeper" && ctl nice "$sleeper" 5 >/dev/null || fail "stop/nice sleeper"
wait_state "$sleeper" T
assert_match '^2 restored$' "$(ctl release)" "release"
wait_state "$sleeper" S

pass "agent in a $(cat "$XV_RUN/ag.accel" 2>/dev/null || echo ?) guest"
