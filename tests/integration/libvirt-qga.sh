#!/bin/bash
# qemu-guest-agent through libvirt's agent API (issue 11, items 3-4): the
# stock Debian 12 guest (qemu-guest-agent inside, no xvagent) booted as a
# libvirt domain; libvirtd owns its QGA socket, so xvsched goes through
# virDomainQemuAgentCommand.  Locally (qemu:///system) and over TCP
# (qemu+tcp://127.0.0.1:PORT/system, the same libvirtd listening on
# 127.0.0.1 without auth: a remote URI as xvsched sees it):
#  (a) `xvsched list` shows the QGA channel as libvirt's and stop through
#      it, and for the TCP URI says that introspection needs local RAM;
#  (b) `ps DOM --via qga` matches the guest's own `ps -eL` (guest-exec
#      through virsh qemu-agent-command): >= 97 % of the threads seen in
#      both snapshots around each scan (as stock-debian.sh's qga phase);
#  (c) stop --for / cont / nice --for of a `sleep` started in the guest for
#      the test, its state and nice read from /proc/PID/stat in the guest;
#  (d) kill -9 of xvsched while it holds a stop: the guest-side watchdog
#      resumes the sleeper after its lease (~10 s; bound 120 s here);
#  (e) the same ps and stop over the TCP URI; vmi says in one line that it
#      needs the guest's RAM on this host, and auto takes QGA.
# Figures (attach, ps round trip, stop/resume latency) are logged for
# docs/qga.md, never asserted.  Suite 'slow': one Debian boot (1-8 min TCG).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd "${XV_QEMU:-qemu-system-x86_64}" qemu-img python3 libvirtd virtlogd virsh
XV_DEBIAN=${XV_DEBIAN:-$XV_BUILD/debian/min}
[ -f "$XV_DEBIAN/rootfs.img" ] || skip "no Debian image in $XV_DEBIAN (make debian-image)"
X=$XV_BUILD/src/cli/xvsched
[ -x "$X" ] || fail "no $X (build first)"
export XVSCHED_STATE_DIR=$XV_TEST_DIR/state
mkdir -p "$XVSCHED_STATE_DIR"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# ---- a libvirtd that also listens on TCP 127.0.0.1 ------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ -n "$(cat /run/libvirtd.pid 2>/dev/null)" ] && [ "$(cat "/proc/$(cat /run/libvirtd.pid)/comm" 2>/dev/null)" = libvirtd ]; then
        # Someone else's libvirtd (no second one can run beside it): reach
        # it over TCP through a forwarder to its UNIX socket, the same RPC.
        log "libvirtd runs already (not ours): qemu+tcp through a forwarder to its socket"
        python3 - "$port" /var/run/libvirt/libvirt-sock <<'PY' &
import socket, sys, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(8)
def pipe(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
while True:
    c, _ = srv.accept()
    u = socket.socket(socket.AF_UNIX); u.connect(sys.argv[2])
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
        xv_on_exit "kill $! 2>/dev/null"
else
        cat >"$XV_TEST_DIR/libvirtd.conf" <<CONF
listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "$port"
auth_tcp = "none"
CONF
        mkdir -p /var/log/libvirt /var/run/libvirt
        LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log" libvirtd -d --listen -f "$XV_TEST_DIR/libvirtd.conf" ||
                fail "libvirtd --listen failed (see /var/log/libvirt/libvirtd.log)"
        for _ in $(seq 50); do
                lp=$(cat /run/libvirtd.pid 2>/dev/null || true)
                [ -n "$lp" ] && [ "$(cat "/proc/$lp/comm" 2>/dev/null)" = libvirtd ] && break
                sleep 0.1
        done
        [ -n "$lp" ] || fail "libvirtd --listen did not start"
        # `vm libvirtd down` (the EXIT trap) stops what this file names.
        mkdir -p "$XV_RUN"
        echo "libvirtd $lp" >>"$XV_RUN/libvirtd.started"
        log "libvirtd $lp listens on 127.0.0.1:$port (TCP, no auth)"
fi
libvirtd_up >/dev/null   # virtlogd, the QEMU user, /dev/kvm's group
TCP=qemu+tcp://127.0.0.1:$port/system
for _ in $(seq 50); do timeout 10 virsh -c "$TCP" list >/dev/null 2>&1 && break; sleep 0.2; done
timeout 10 virsh -c "$TCP" list >/dev/null 2>&1 || fail "virsh -c $TCP does not answer"

# ---- boot the stock Debian guest as a libvirt domain -----------------------
name=xvlq$$
t0=$(date +%s)
vm lv-start --name "$name" --debian "$XV_DEBIAN" --cpus "${XV_STOCK_CPUS:-2}" \
        --append "systemd.mask=systemd-logind.service systemd.mask=serial-getty@ttyS0.service" >/dev/null
vm wait "$name" --timeout "${XV_BOOT_TIMEOUT:-900}"
log "QGA answers through libvirt $(( $(date +%s) - t0 )) s after start (load $(cut -d' ' -f1-3 /proc/loadavg))"

# gexec PROG [ARG]...: guest-exec through virsh qemu-agent-command; its
# stdout (exit status non-zero: fail).
gexec() {
        python3 - "$name" "$@" <<'PY'
import base64, json, subprocess, sys, time
dom, prog, args = sys.argv[1], sys.argv[2], sys.argv[3:]
def q(cmd):
    p = subprocess.run(["virsh", "-q", "-c", "qemu:///system", "qemu-agent-command", dom, json.dumps(cmd),
                        "--timeout", "60"], capture_output=True, text=True, timeout=90)
    if p.returncode != 0:   # one line: e.g. libvirtd went away (a shared one stopped by its owner)
        sys.exit(f"virsh qemu-agent-command {cmd['execute']}: {p.stderr.strip() or p.returncode}")
    return json.loads(p.stdout)["return"]
pid = q({"execute": "guest-exec", "arguments": {"path": prog, "arg": args, "capture-output": True}})["pid"]
end = time.time() + 180
while True:
    st = q({"execute": "guest-exec-status", "arguments": {"pid": pid}})
    if st.get("exited"):
        break
    if time.time() > end:
        sys.exit(f"guest-exec of {prog}: still running after 180 s")
    time.sleep(0.2)
sys.stdout.write(base64.b64decode(st.get("out-data", "")).decode(errors="replace"))
sys.stderr.write(base64.b64decode(st.get("err-data", "")).decode(errors="replace"))
sys.exit(st.get("exitcode", 1))
PY
}
stat_field() {   # PID N: field N of the guest's /proc/PID/stat (3 = state, 19 = nice)
        gexec /bin/cat "/proc/$1/stat" | sed 's/.*) //' | cut -d' ' -f$(($2 - 2))
}
wait_state() {   # PID STATE SECONDS: until the guest shows STATE
        local end=$((SECONDS + $3))
        while [ "$SECONDS" -lt "$end" ]; do
                [ "$(stat_field "$1" 3)" = "$2" ] && return 0
                sleep 0.2
        done
        return 1
}
path_of() {   # JSON DOMAIN FIELD: paths.FIELD
        echo "$1" | python3 -c "import json,sys
d=[d for d in json.load(sys.stdin) if d['name']==sys.argv[1]][0]
print(d['paths'][sys.argv[2]])" "$2" "$3"
}

# ---- (a) list ----------------------------------------------------------
t0=$(date +%s%N)
json=$("$X" -b libvirt list --json) || fail "(a) list --json failed"
log "figure: list (local) $(ms "$t0") ms"
assert_eq "channel (libvirt), guest-exec allowed" "$(path_of "$json" "$name" qga)" "(a) the QGA channel, through libvirt, asked whether it allows guest-exec"
assert_eq "no channel" "$(path_of "$json" "$name" agent)" "(a) no xvagent channel in the stock guest"
assert_eq "qga" "$(path_of "$json" "$name" stop)" "(a) stop through QGA (libvirt's agent API)"
t0=$(date +%s%N)
json=$("$X" -b libvirt -c "$TCP" list --json) || fail "(a) list --json over $TCP failed"
log "figure: list ($TCP) $(ms "$t0") ms"
assert_eq "channel (libvirt), guest-exec allowed" "$(path_of "$json" "$name" qga)" "(a) the QGA channel over TCP"
assert_match "^no \(remote host" "$(path_of "$json" "$name" vmi)" "(a) vmi over TCP says it needs local RAM"
# A remote URI adds the HOST column first: the name is the row's second field.
rows=$("$X" -b libvirt -c "$TCP" list) || fail "(a) list over $TCP failed"
grep -A1 -E "^[^ ]+ +$name " <<<"$rows" | sed "s/^/$XV_TEST_NAME: /" | grep -q . ||
        fail "(a) no row for $name in the list over $TCP: $(head -c 400 <<<"$rows")"
grep -A1 -E "^[^ ]+ +$name " <<<"$rows" | sed "s/^/$XV_TEST_NAME: /"
# One agent round trip through libvirt (a virsh start and connect included):
# the qga view's attach is two (guest-ping, guest-info) after discovery.
for u in qemu:///system "$TCP"; do
        t0=$(date +%s%N)
        virsh -q -c "$u" qemu-agent-command "$name" '{"execute":"guest-ping"}' --timeout 30 >/dev/null ||
                fail "(a) guest-ping through $u failed"
        log "figure: virsh guest-ping through $u $(ms "$t0") ms"
done

# ---- (b) ps --via qga vs the guest's ps -eL --------------------------------
guest_ps() { gexec /bin/sh -c 'sleep 1; exec /bin/ps -eL -o pid=,lwp=,stat=,comm=' >"$1" || fail "guest ps -eL failed"; }
compare() {   # PREFIX ROUNDS: scans PREFIXscan.k against PREFIXps.(k-1) and .k
        python3 - "$XV_TEST_DIR" "$2" "$1" <<'PY'
import json, sys
d, rounds, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def ps(k):
    t = {}
    for l in open(f"{d}/{prefix}ps.{k}"):
        f = l.split(None, 3)
        if len(f) == 4:
            t[int(f[1])] = (int(f[0]), f[3].rstrip("\n")[:15])
    return t
kw = lambda c: c.split("-", 1)[0] if c.startswith("kworker/") else c
total = same = 0
for k in range(1, rounds + 1):
    a0, a1 = ps(k - 1), ps(k)
    v = {t["tid"]: (t["pid"], t["comm"][:15]) for t in json.load(open(f"{d}/{prefix}scan.{k}"))["tasks"]}
    for tid, a in a1.items():
        b = a0.get(tid)
        if b is None:
            continue
        total += 1
        x = v.get(tid)
        if x and x[0] == a[0] and kw(x[1]) in (kw(a[1]), kw(b[1])):
            same += 1
        else:
            print(f"differs tid={tid} ps={b}/{a} scan={x}", file=sys.stderr)
print(total, same)
PY
}
ps_rounds() {   # PREFIX URI-ARGS...: 2 scans between 3 guest ps; asserts
        local p=$1 k t0 tot same
        shift
        guest_ps "$XV_TEST_DIR/${p}ps.0"
        for k in 1 2; do
                t0=$(date +%s%N)
                "$X" -b libvirt "$@" ps "$name" --via qga --json >"$XV_TEST_DIR/${p}scan.$k" 2>"$XV_TEST_DIR/err" ||
                        fail "(b) ps --via qga $* failed: $(cat "$XV_TEST_DIR/err")"
                log "figure: ps --via qga $* round $k: $(ms "$t0") ms"
                guest_ps "$XV_TEST_DIR/${p}ps.$k"
        done
        read -r tot same < <(compare "$p" 2)
        log "ps --via qga $*: $same of $tot threads as the guest's ps -eL shows them"
        [ "$tot" -ge 60 ] || fail "(b) too few threads compared ($tot)"
        [ "$same" -ge $((tot - (tot * 3 / 100 > 4 ? tot * 3 / 100 : 4))) ] ||
                fail "(b) only $same of $tot threads in the qga view $*"
}
ps_rounds lq-
out=$("$X" -b libvirt ps "$name" --via qga) || fail "(b) ps failed"
assert_match "^view: qga" "$out" "(b) ps names its view"
assert_match "\(qemu-guest-agent\)" "$out" "(b) qemu-ga is marked as the agent"

# ---- (c) stop / cont / nice of a guest sleeper -------------------------------
S=$(gexec /bin/sh -c 'sleep 100000 </dev/null >/dev/null 2>&1 & echo $!') || fail "starting the sleeper failed"
S=${S//[^0-9]/}
[ -n "$S" ] || fail "no sleeper pid"
assert_eq S "$(stat_field "$S" 3)" "(c) the sleeper sleeps"
stop_cycle() {   # WHAT URI-ARGS...: stop --for 4 through libvirt; latencies logged
        local what=$1 h t0 t1
        shift
        t0=$(date +%s%N)
        "$X" -b libvirt "$@" stop "$name" "$S" --via qga --for 4 >"$XV_TEST_DIR/stop.out" 2>&1 &
        h=$!
        wait_state "$S" T 120 || fail "($what) the sleeper never showed T: $(cat "$XV_TEST_DIR/stop.out")"
        log "figure: stop $* (command start -> guest state T, incl. one guest-exec of cat) $(ms "$t0") ms"
        wait "$h" || fail "($what) stop --via qga $* failed: $(cat "$XV_TEST_DIR/stop.out")"
        t1=$(date +%s%N)
        assert_match "^resumed" "$(tail -1 "$XV_TEST_DIR/stop.out")" "($what) stop resumes at the end"
        assert_eq S "$(stat_field "$S" 3)" "($what) the sleeper's state after the hold"
        log "figure: resume $* (hold end -> S seen) $(ms "$t1") ms"
        head -1 "$XV_TEST_DIR/stop.out" | sed "s/^/$XV_TEST_NAME: /"
}
stop_cycle c
n0=$(stat_field "$S" 19)
"$X" -b libvirt nice "$name" "$S" 7 --via qga --for 4 >"$XV_TEST_DIR/nice.out" 2>&1 &
h=$!
end=$((SECONDS + 120))
while [ "$(stat_field "$S" 19)" != 7 ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
assert_eq 7 "$(stat_field "$S" 19)" "(c) the sleeper's nice while held"
wait "$h" || fail "(c) nice --via qga failed: $(cat "$XV_TEST_DIR/nice.out")"
assert_eq "$n0" "$(stat_field "$S" 19)" "(c) the sleeper's nice after the hold"
gexec /bin/kill -STOP "$S" >/dev/null || fail "(c) guest-exec of kill -STOP failed"
assert_eq T "$(stat_field "$S" 3)" "(c) the sleeper stopped by hand"
"$X" -b libvirt cont "$name" "$S" --via qga >/dev/null || fail "(c) cont --via qga failed"
assert_eq S "$(stat_field "$S" 3)" "(c) the sleeper's state after cont"

# ---- (d) kill -9 of xvsched holding a stop: the watchdog resumes ---------
"$X" -b libvirt stop "$name" "$S" --via qga --for 600 >"$XV_TEST_DIR/stop2.out" 2>&1 &
h=$!
wait_state "$S" T 120 || fail "(d) the sleeper never showed T: $(cat "$XV_TEST_DIR/stop2.out")"
kill -9 "$h"
wait "$h" 2>/dev/null || true
t0=$(date +%s%N)
wait_state "$S" S 120 || fail "(d) the sleeper still stopped 120 s after xvsched was killed"
log "figure: the watchdog resumed the sleeper $(ms "$t0") ms after xvsched was SIGKILLed"

# ---- (e) the same over the TCP URI ------------------------------------------
ps_rounds lqt- -c "$TCP"
stop_cycle e -c "$TCP"
"$X" -b libvirt -c "$TCP" ps "$name" --via vmi >/dev/null 2>"$XV_TEST_DIR/err" && fail "(e) ps --via vmi over TCP succeeded"
log "(e) ps --via vmi over TCP: $(cat "$XV_TEST_DIR/err")"
assert_eq 1 "$(grep -c . "$XV_TEST_DIR/err")" "(e) one error line for vmi over a remote URI"
assert_match "remote host: introspection reads the guest's RAM" "$(cat "$XV_TEST_DIR/err")" "(e) vmi says why not"
out=$("$X" -b libvirt -c "$TCP" ps "$name") || fail "(e) ps (auto) over TCP failed"
assert_match "^view: qga" "$out" "(e) auto takes QGA for a remote domain"
gexec /bin/kill "$S" >/dev/null || true
pass
