#!/bin/bash
# The daemon's Prometheus metrics (issue 14, docs/metrics.md), one busybox
# guest with a CPU-bound watched task:
#  - a bad `metrics =` address, and a port already taken: one error line,
#    a non-zero exit, nothing applied (the state file holds no entry);
#  - GET /metrics: the metric families, the task's CPU seconds counter grows
#    between two scrapes, the tick histogram's count grows;
#  - 404 for another path, 405 for POST;
#  - bad clients (one that connects and never sends, one that sends a
#    request and never reads, 200 connections held open at once): the
#    daemon keeps ticking, its control socket answers, and /metrics answers
#    again once they are gone;
#  - after `xvsched reload` it serves the new rules, and xvsched_ticks_total
#    has not gone back.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_vm
require_cmd curl timeout
. "$(dirname "$0")/../lib/policy.sh"

vm start --name mx --pvh --agent --stay --cmd "$GUEST_LIB b burn; sleep 100000" >/dev/null

# A free loopback port (the kernel's pick, released at once).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
conf() { # METRICS-VALUE
        printf '[daemon]\ninterval = 100ms\nmetrics = %s\n[domain g]\nmatch = mx\n[task burn]\ndomain = g\ncomm = burn\npriority = 60\n' "$1"
}

# --- a bad address: refused at parse, before anything (the guest is still booting)
conf "127.0.0.1:http" >"$XV_TEST_DIR/bad.conf"
rc=0
timeout 10 "$X" -b qmp run "$XV_TEST_DIR/bad.conf" >"$XV_TEST_DIR/bad.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "a bad metrics address: exit $rc"
assert_eq 1 "$(wc -l <"$XV_TEST_DIR/bad.out")" "error lines for a bad address"
assert_match 'bad.conf:3: metrics = 127.0.0.1:http: expected a port' "$(cat "$XV_TEST_DIR/bad.out")" "bad address error"

# --- a port already taken: one line, non-zero, nothing applied (the
# guest is still booting: the start fails before any guest view)
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); open(sys.argv[2],"w").close(); time.sleep(30)' "$port" "$XV_TEST_DIR/held" &
holder=$!
xv_on_exit "kill $holder 2>/dev/null || true"
for ((i = 0; i < 100; i++)); do [ -e "$XV_TEST_DIR/held" ] && break; sleep 0.1; done
[ -e "$XV_TEST_DIR/held" ] || fail "could not hold port $port for the test"
conf "127.0.0.1:$port" >"$XV_TEST_DIR/m.conf"
rc=0
timeout 20 "$X" -b qmp run "$XV_TEST_DIR/m.conf" >"$XV_TEST_DIR/taken.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "a taken port: exit $rc"
assert_match "metrics = 127.0.0.1:$port: cannot listen there: Address already in use" "$(cat "$XV_TEST_DIR/taken.out")" "taken port error"
assert_eq 1 "$(grep -c . "$XV_TEST_DIR/taken.out")" "error lines for a taken port"
if [ -f "$XVSCHED_STATE_DIR/state.json" ]; then
        assert_eq 0 "$(journal_entries)" "state entries after a failed start"
fi
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

vm wait mx
log "guest up after ${SECONDS} s"

# --- scrapes
daemon_start "$XV_TEST_DIR/m.conf"
url=http://127.0.0.1:$port/metrics
# value METRIC-LINE-PREFIX FILE: the value of the first sample starting so
value() { grep -F "$1" "$2" | head -1 | awk '{print $NF}'; }
# grows A B: B > A (floats)
grows() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(b + 0 > a + 0) }'; }
for ((i = 0; i < 100; i++)); do
        curl -sf -m 5 "$url" >"$XV_TEST_DIR/s1.txt" || fail "GET /metrics failed"
        grep -q '^xvsched_task_cpu_seconds_total{domain="g",task="burn"}' "$XV_TEST_DIR/s1.txt" && break
        sleep 0.2
done
grep -q '^xvsched_task_cpu_seconds_total{domain="g",task="burn"}' "$XV_TEST_DIR/s1.txt" ||
        fail "no CPU seconds of task burn within 20 s: $(grep -c . "$XV_TEST_DIR/s1.txt") lines"
for fam in xvsched_ticks_total xvsched_tick_seconds xvsched_errors_total xvsched_domain_info xvsched_domain_weight \
        xvsched_domain_vcpu_cpu_seconds_total xvsched_domain_steal_scale xvsched_task_cpu_seconds_total \
        xvsched_task_state xvsched_task_stopped_seconds_total; do
        grep -q "^# TYPE $fam " "$XV_TEST_DIR/s1.txt" || fail "no family $fam"
done
grep -q '^xvsched_domain_info{domain="g",vm="mx",view="agent",control_path="[^"]*"} 1$' "$XV_TEST_DIR/s1.txt" ||
        fail "domain info: $(grep '^xvsched_domain_info' "$XV_TEST_DIR/s1.txt")"
# scrape again until both have grown (bounded: 20 s), no fixed sleep
c1=$(value 'xvsched_task_cpu_seconds_total{domain="g",task="burn"}' "$XV_TEST_DIR/s1.txt")
n1=$(value 'xvsched_tick_seconds_count{phase="observe"}' "$XV_TEST_DIR/s1.txt")
for ((i = 0; i < 100; i++)); do
        sleep 0.2
        curl -sf -m 5 "$url" >"$XV_TEST_DIR/s2.txt" || fail "second GET /metrics failed"
        c2=$(value 'xvsched_task_cpu_seconds_total{domain="g",task="burn"}' "$XV_TEST_DIR/s2.txt")
        n2=$(value 'xvsched_tick_seconds_count{phase="observe"}' "$XV_TEST_DIR/s2.txt")
        grows "$c1" "$c2" && grows "$n1" "$n2" && break
done
log "task burn CPU seconds $c1 -> $c2; ticks observed $n1 -> $n2"
grows "$c1" "$c2" ||
        fail "the task's CPU seconds did not grow ($c1 -> $c2)"
grows "$n1" "$n2" ||
        fail "the tick histogram's count did not grow ($n1 -> $n2)"

# a burner: running (or runnable, on a loaded host), one state at 1
st=$(grep '^xvsched_task_state{domain="g",task="burn"' "$XV_TEST_DIR/s2.txt" | grep ' 1$')
assert_match '^xvsched_task_state\{domain="g",task="burn",state="(running|runnable)"\} 1$' "$st" "task state"

assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "http://127.0.0.1:$port/")" "GET /"
assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST -d x "$url")" "POST /metrics"

# --- bad clients, held while the test checks that the loop keeps ticking
tick() {
        local out
        out=$(timeout 5 "$X" --json status) || fail "status did not answer within 5 s beside the bad clients"
        printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tick"])'
}
python3 - "$port" "$XV_TEST_DIR/flood" >"$XV_TEST_DIR/flood.out" 2>&1 <<'EOF' &
import os, socket, sys, time
port, flag = int(sys.argv[1]), sys.argv[2]
held = []
def conn():
    s = socket.socket()
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    return s
mute = conn()                                     # connects, never sends
hog = conn()                                      # asks, never reads
hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
hog.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
refused = 0
for _ in range(200):                              # 200 at once, not waiting for each
    s = socket.socket()
    s.setblocking(False)
    if s.connect_ex(("127.0.0.1", port)) not in (0, 115):   # 115: EINPROGRESS
        refused += 1
    held.append(s)
open(flag + ".ready", "w").close()
# held until the test has seen the loop tick beside them (bounded)
end = time.time() + 60
while not os.path.exists(flag + ".done") and time.time() < end:
    time.sleep(0.05)
# how many the server closed (MHD's limits) or left open
closed = 0
for s in held:
    try:
        closed += s.recv(1) == b""
    except OSError:
        pass
print(f"200 connections: {refused} refused at connect, {closed} closed by the server", flush=True)
EOF
flood=$!
xv_on_exit "kill $flood 2>/dev/null || true"
for ((i = 0; i < 200; i++)); do
        [ -e "$XV_TEST_DIR/flood.ready" ] && break
        kill -0 "$flood" 2>/dev/null || break
        sleep 0.1
done
[ -e "$XV_TEST_DIR/flood.ready" ] || fail "the bad clients did not connect: $(cat "$XV_TEST_DIR/flood.out")"
t0=$(tick)
sleep 1
t1=$(tick)
log "ticks beside the bad clients: $t0 -> $t1"
[ "$t1" -gt "$t0" ] || fail "the daemon stopped ticking beside the bad clients ($t0 -> $t1)"
kill -0 "$flood" 2>/dev/null || fail "the bad clients ended early: $(cat "$XV_TEST_DIR/flood.out")"
touch "$XV_TEST_DIR/flood.done"
wait "$flood" || fail "the bad clients' script failed: $(cat "$XV_TEST_DIR/flood.out")"
log "flood: $(cat "$XV_TEST_DIR/flood.out")"
# they are gone (closed): served again at once
curl -sf -m 5 "$url" >"$XV_TEST_DIR/s3.txt" || fail "GET /metrics after the bad clients failed"
n3=$(value 'xvsched_tick_seconds_count{phase="observe"}' "$XV_TEST_DIR/s3.txt")
grows "$n2" "$n3" ||
        fail "ticks did not advance in the metrics across the bad clients ($n2 -> $n3)"

# a reload swaps the rules under the server: it goes on serving the new ones
sed -i 's/^priority = 60$/priority = 70/' "$XV_TEST_DIR/m.conf"
"$X" reload >/dev/null || fail "reload failed"
for ((i = 0; i < 50; i++)); do
        curl -sf -m 5 "$url" >"$XV_TEST_DIR/s4.txt" || fail "GET /metrics after the reload failed"
        grep -q '^xvsched_task_priority{domain="g",task="burn"} 70$' "$XV_TEST_DIR/s4.txt" && break
        sleep 0.1
done
grep -q '^xvsched_task_priority{domain="g",task="burn"} 70$' "$XV_TEST_DIR/s4.txt" ||
        fail "the reloaded priority is not served: $(grep '^xvsched_task_priority' "$XV_TEST_DIR/s4.txt")"
# counters do not go back at a reload (rate() would read a reset)
k3=$(awk '$1 == "xvsched_ticks_total" { print $2 }' "$XV_TEST_DIR/s3.txt")
k4=$(awk '$1 == "xvsched_ticks_total" { print $2 }' "$XV_TEST_DIR/s4.txt")
grows "$k3" "$k4" || fail "xvsched_ticks_total went back at the reload ($k3 -> $k4)"

daemon_stop
log "done after ${SECONDS} s"
pass
