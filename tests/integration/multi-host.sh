#!/bin/bash
# Many hosts (issue 14): `-c URI` repeated.  Two libvirtd instances on this
# machine, each in a mount namespace of its own (its /etc/libvirt, /run/libvirt,
# /var/lib/libvirt: for xvsched they are two hosts, reached only by
# qemu+tcp://127.0.0.1:PORT/system, auth none), one small domain on each
# (started paused: no guest boots; libvirt's levers work on it), plus a
# same-named domain on both; and a third URI whose port accepts and never
# answers.
#  (a) `list` shows the domains of both hosts, each row with its host, in
#      text and JSON;
#  (b) `set` on h1's domain changes it through libvirt on h1 only (virsh on
#      each host says so): weight, cap, cpus (vcpupin), and `list` reads them
#      back from h1; `reset` restores it on h1 from the journal's URI; the
#      weight goes in h1's cgroup scale even with a tree of the other
#      cgroup version given as this machine's (--cgroup-root);
#  (c) a lever that only works on the local host (nice, rt, mems) is refused
#      for a remote domain in one line, nothing changed;
#  (d) two domains of one name: `set NAME` refuses in one line naming both
#      hosts, `set NAME@HOST` changes only that host's;
#  (e) with the silent URI among them: `list` ends within bounds, one error
#      line names the silent host, both answering hosts are still listed,
#      exit status 1; `set` on a domain of an answering host still works;
#  (f) a daemon on one host: with h1 it sets mha's fixed weight through
#      libvirt, keeps ticking while h1's libvirtd is stopped (SIGSTOP), its
#      call on the open connection cut by libvirt's keepalive with one line,
#      a new connection after SIGCONT, and restores on h1 when it ends;
#  (g) one daemon, two hosts (the config's [hosts]; -c wins over it): a
#      loop per host, rules bound to one host (NAME@HOST) and one on both
#      (twin, per host), set on each host (virsh); `status` and /metrics
#      say each row's host; a reload changes both hosts; h2's libvirtd
#      stopped, h1's loop ticks on and its levers stay;
#      SIGTERM restores both hosts exactly, and so does the next start after
#      a SIGKILL; a rule bound to an unknown host is one line naming
#      file:line.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd libvirtd virsh unshare taskset python3 "${XV_QEMU:-qemu-system-x86_64}"
X="$XV_BUILD/src/cli/xvsched"
export XVSCHED_STATE_DIR=$XV_TEST_DIR/state
mkdir -p "$XVSCHED_STATE_DIR"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# QEMU's capabilities, probed once (~45 s under TCG) and kept in the build
# dir for later runs; seeded from the host's libvirt when it has them.  The
# QEMU user is root so that libvirt's /dev/kvm check agrees with the cache.
# libvirtd runs on CPU 0: libvirt 9's "host cpuid changed" check compares
# CPUID leaves 0xb/0x1f, whose EDX is the x2APIC id of the CPU the check ran
# on, so a cache written on another CPU was judged outdated and probed again
# at about every other start (QEMU's children get all CPUs back from libvirt).
CAPS=$XV_BUILD/multi-host-caps
mkdir -p "$CAPS/qemu/capabilities"
cp -pn /var/cache/libvirt/qemu/capabilities/*.xml "$CAPS/qemu/capabilities/" 2>/dev/null || true

# host_up N: libvirtd number N in its own mount namespace, TCP on a free port.
declare -A PORT URI
host_up() {
        local n=$1 d=$XV_TEST_DIR/h$1 port
        port=$(free_port)
        mkdir -p "$d"/{etc,run,lib,log}
        cat >"$d/etc/libvirtd.conf" <<EOF
listen_tls = 0
listen_tcp = 1
tcp_port = "$port"
listen_addr = "127.0.0.1"
auth_tcp = "none"
auth_unix_rw = "none"
log_outputs = "3:file:$d/libvirtd.log"
EOF
        cat >"$d/etc/qemu.conf" <<EOF
stdio_handler = "file"
user = "root"
group = "root"
EOF
        # /run/libvirt is the test dir's: QEMU's pid files are visible here for the cleanup.
        # in a subshell: not a job of this shell (init reaps it; no "Killed" notices)
        (unshare -m --propagation private bash -c "
                mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt
                mount --bind '$d/run' /run/libvirt && mount --bind '$d/etc' /etc/libvirt &&
                mount --bind '$d/lib' /var/lib/libvirt && mount --bind '$CAPS' /var/cache/libvirt &&
                mount --bind '$d/log' /var/log/libvirt && mkdir -p /var/lib/libvirt/qemu /var/log/libvirt/qemu &&
                exec taskset -c 0 libvirtd --listen -f /etc/libvirt/libvirtd.conf -p '$d/libvirtd.pid'" \
                >"$d/stdout" 2>&1 &)
        PORT[$n]=$port
        URI[$n]="qemu+tcp://127.0.0.1:$port/system"
        xv_on_exit "host_down $n"
}
host_down() {
        local d=$XV_TEST_DIR/h$1 f pid
        # libvirt's QEMUs outlive libvirtd: end them first (destroy, else their pid files).
        for f in "$d"/run/qemu/*.pid; do
                [ -e "$f" ] || continue
                timeout 10 virsh -c "${URI[$1]}" destroy "$(basename "$f" .pid)" >/dev/null 2>&1 ||
                        { pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; }
        done
        pid=$(cat "$d/libvirtd.pid" 2>/dev/null || true)
        [ -n "$pid" ] && kill "$pid" 2>/dev/null
        wait_gone "${pid:-0}" 10 || kill -9 "$pid" 2>/dev/null
        true
}
host_wait() {   # N: until virsh answers (30 s)
        local i
        for ((i = 0; i < 300; i++)); do
                timeout 5 virsh -c "${URI[$1]}" uri >/dev/null 2>&1 && return 0
                sleep 0.1
        done
        fail "libvirtd $1 does not answer at ${URI[$1]}: $(tail -3 "$XV_TEST_DIR/h$1/libvirtd.log" 2>/dev/null)"
}
# dom_up N NAME: define NAME on host N (32 MiB, one vCPU, no disk) and start it paused.
dom_up() {
        cat >"$XV_TEST_DIR/$2-$1.xml" <<EOF
<domain type='qemu'>
  <name>$2</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><emulator>$(command -v "${XV_QEMU:-qemu-system-x86_64}")</emulator>
    <video><model type='none'/></video><memballoon model='none'/></devices>
</domain>
EOF
        virsh -c "${URI[$1]}" define "$XV_TEST_DIR/$2-$1.xml" >/dev/null || fail "cannot define $2 on host $1"
        virsh -c "${URI[$1]}" start --paused "$2" >/dev/null || fail "cannot start $2 on host $1"
}
shares() { virsh -c "${URI[$1]}" schedinfo "$2" | awk '$1 == "cpu_shares" { print $3 }'; }
quota() { virsh -c "${URI[$1]}" schedinfo "$2" | awk '$1 == "global_quota" { print $3 }'; }
vcpu0() { virsh -c "${URI[$1]}" vcpupin "$2" | awk '$1 == "0" { print $2 }'; }

# first on exit: restore what a failed phase left, while the hosts are up
xv_on_exit '"$X" reset --all >/dev/null 2>&1'
host_up 1
host_up 2
host_wait 1
host_wait 2
log "libvirtd 1 and 2 answer"
# Both libvirtds share this machine's cgroup tree, where a domain's group is
# machine/qemu-ID-NAME: the twins get different ids (2 on h1, 1 on h2).
dom_up 1 mha
dom_up 1 twin
dom_up 2 twin
dom_up 2 mhb
log "domains up"
H1="127.0.0.1:${PORT[1]}" H2="127.0.0.1:${PORT[2]}"
C=(-b libvirt -c "${URI[1]}" -c "${URI[2]}")

# ---- (a) list: both hosts, each row with its host
text=$("$X" "${C[@]}" list --window 10) || fail "(a) list failed"
echo "$text"
assert_match "^$H1 +mha +libvirt " "$(echo "$text" | grep ' mha ')" "(a) mha's row names h1"
assert_match "^$H2 +mhb +libvirt " "$(echo "$text" | grep ' mhb ')" "(a) mhb's row names h2"
assert_eq 2 "$(echo "$text" | grep -c ' twin ')" "(a) twin is listed on both hosts"
json=$("$X" "${C[@]}" list --json --window 10) || fail "(a) list --json failed"
hosts=$(echo "$json" | python3 -c 'import json,sys
print(" ".join(sorted(d["name"]+"@"+d["host"]+":"+str(d["remote"]) for d in json.load(sys.stdin))))')
want=$(printf '%s\n' "mha@$H1:True" "mhb@$H2:True" "twin@$H1:True" "twin@$H2:True" | LC_ALL=C sort | paste -sd' ')
assert_eq "$want" "$hosts" "(a) JSON names and hosts"

# ---- (b) set on h1's domain: only there; reset restores it there
b1=$(shares 1 mha) b2=$(shares 2 mhb) bp=$(vcpu0 1 mha)
"$X" "${C[@]}" set mha weight=300 cap=50 cpus=0 || fail "(b) set mha failed"
[ "$(shares 1 mha)" != "$b1" ] || fail "(b) mha's cpu_shares on h1 unchanged ($b1)"
assert_eq 50000 "$(quota 1 mha)" "(b) mha's global_quota on h1 (cap=50 of a 100 ms period)"
assert_eq 0 "$(vcpu0 1 mha)" "(b) mha's vCPU 0 pinned on h1"
assert_eq "$b2" "$(shares 2 mhb)" "(b) mhb on h2 untouched"
# list reads a remote domain's levers from its host's libvirt, in set's scales
lv=$("$X" "${C[@]}" list --json --window 10 | python3 -c 'import json,sys
l={d["name"]+"@"+d["host"]: d["levers"] for d in json.load(sys.stdin)}
print(l[sys.argv[1]].get("weight"), l[sys.argv[1]].get("cap_pct"), l[sys.argv[1]].get("cpus"))' "mha@$H1")
assert_eq "300 50.0 0" "$lv" "(b) mha's weight, cap and cpus as list reads them from h1"
assert_match "127.0.0.1:${PORT[1]}/system" "$(cat "$XVSCHED_STATE_DIR/state.json")" "(b) the journal names h1's URI"
"$X" "${C[@]}" reset mha || fail "(b) reset mha failed"
assert_eq "$b1" "$(shares 1 mha)" "(b) mha's cpu_shares restored on h1"
assert_eq -1 "$(quota 1 mha)" "(b) mha's cap restored on h1"
assert_eq "$bp" "$(vcpu0 1 mha)" "(b) mha's vCPU pinning restored on h1"
# A weight in the remote host's scale, not this machine's: with a fake cgroup
# tree of the other version given as this machine's (--cgroup-root), h1 (the
# real version, as its libvirt's range for cpu_shares says) still gets
# weight=300 in its own scale (cpu_shares 3072 on v1, 300 on v2; before: the
# fake tree's), and list reads it back as 300.
fake=$XV_TEST_DIR/fake-cgroup
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
        mkdir -p "$fake/cpu" && echo 1024 >"$fake/cpu/cpu.shares"   # v1 here, h1 on v2
        want=300
else
        mkdir -p "$fake" && echo "cpuset cpu io memory pids" >"$fake/cgroup.controllers"   # v2 here, h1 on v1
        want=3072
fi
"$X" --cgroup-root "$fake" "${C[@]}" set mha weight=300 || fail "(b) set mha with a fake tree here failed"
assert_eq "$want" "$(shares 1 mha)" "(b) mha's cpu_shares on h1 with a tree of the other version here"
lv=$("$X" --cgroup-root "$fake" "${C[@]}" list --json --window 10 | python3 -c 'import json,sys
print({d["name"]+"@"+d["host"]: d["levers"] for d in json.load(sys.stdin)}[sys.argv[1]].get("weight"))' "mha@$H1")
assert_eq 300 "$lv" "(b) mha's weight as list reads it with a tree of the other version here"
"$X" "${C[@]}" reset mha >/dev/null || fail "(b) reset mha (scale) failed"
assert_eq "$b1" "$(shares 1 mha)" "(b) mha's cpu_shares restored on h1 (scale)"

# ---- (c) local-only levers on a remote domain: one line, nothing changed
for kv in nice=5 rt=fifo:10 mems=0; do
        if out=$("$X" "${C[@]}" set mhb "$kv" weight=200 2>&1); then fail "(c) set mhb $kv succeeded"; fi
        assert_eq 1 "$(echo "$out" | wc -l)" "(c) $kv: one line ($out)"
        assert_match "another host .*only weight, cap, cpus, memory and ioweight" "$out" "(c) $kv: why"
        assert_eq "$b2" "$(shares 2 mhb)" "(c) $kv: mhb's weight (asked with it) not changed"
done

# ---- (d) one name on two hosts
t1=$(shares 1 twin) t2=$(shares 2 twin)
if out=$("$X" "${C[@]}" set twin weight=200 2>&1); then fail "(d) set twin (two of them) succeeded"; fi
assert_eq 1 "$(echo "$out" | wc -l)" "(d) one line ($out)"
assert_match "2 domains are named 'twin' .*on $H1.*on $H2.*NAME@HOST" "$out" "(d) names both hosts"
"$X" "${C[@]}" set "twin@$H2" weight=200 >/dev/null || fail "(d) set twin@$H2 failed"
assert_eq "$t1" "$(shares 1 twin)" "(d) h1's twin untouched"
[ "$(shares 2 twin)" != "$t2" ] || fail "(d) h2's twin unchanged"
# reset NAME@HOST restores that host's only (it restored nothing before)
"$X" "${C[@]}" set "twin@$H1" weight=150 >/dev/null || fail "(d) set twin@$H1 failed"
"$X" "${C[@]}" reset "twin@$H2" || fail "(d) reset twin@$H2 failed"
assert_eq "$t2" "$(shares 2 twin)" "(d) reset twin@$H2 restored h2's twin"
[ "$(shares 1 twin)" != "$t1" ] || fail "(d) reset twin@$H2 restored h1's twin too"
"$X" "${C[@]}" reset "twin@$H1" >/dev/null || fail "(d) reset twin@$H1 failed"
assert_eq "$t1" "$(shares 1 twin)" "(d) reset twin@$H1 restored h1's twin"
"$X" "${C[@]}" set "twin@$H2" weight=200 >/dev/null || fail "(d) set twin@$H2 (again) failed"

# ---- (e) a host that accepts and never answers
hang_port=$(free_port)
python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); c=[]
while True: c.append(s.accept()[0])' "$hang_port" &
hang_pid=$!
xv_on_exit "kill $hang_pid 2>/dev/null"
HANG="qemu+tcp://127.0.0.1:$hang_port/system"
for ((i = 0; i < 50; i++)); do python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])))' "$hang_port" 2>/dev/null && break; sleep 0.1; done
t0=$(date +%s%N)
rc=0
"$X" -b libvirt -c "${URI[1]}" -c "$HANG" -c "${URI[2]}" --connect-timeout 1 list --window 10 \
        >"$XV_TEST_DIR/e.out" 2>"$XV_TEST_DIR/e.err" || rc=$?
t1=$(date +%s%N)
cat "$XV_TEST_DIR/e.out" "$XV_TEST_DIR/e.err"
assert_eq 1 "$rc" "(e) list's exit status with a silent host"
assert_eq 1 "$(wc -l <"$XV_TEST_DIR/e.err")" "(e) one error line"
grep -qF "cannot reach $HANG: no answer within 1.0 s" "$XV_TEST_DIR/e.err" || fail "(e) the line names the silent host"
grep -q "^$H1 \+mha " "$XV_TEST_DIR/e.out" || fail "(e) mha (h1) not listed beside the silent host"
grep -q "^$H2 \+mhb " "$XV_TEST_DIR/e.out" || fail "(e) mhb (h2) not listed beside the silent host"
# 1 s timeout; the bound leaves room for a loaded machine, far from "for good"
assert_le $(((t1 - t0) / 1000000000)) 15 "(e) seconds list took with a silent host"
"$X" -b libvirt -c "$HANG" -c "${URI[2]}" --connect-timeout 1 set mhb weight=300 >/dev/null 2>&1 ||
        fail "(e) set on h2's domain failed beside the silent host"
[ "$(shares 2 mhb)" != "$b2" ] || fail "(e) mhb's weight on h2 unchanged"
"$X" "${C[@]}" reset --all >/dev/null || fail "(e) reset --all failed"
assert_eq "$b2" "$(shares 2 mhb)" "(e) mhb restored on h2"
assert_eq "$t2" "$(shares 2 twin)" "(e) h2's twin restored"
# ---- (f) the daemon: one per host.  A remote host's fixed levers through
# libvirt; its libvirtd stopped (SIGSTOP: the connection is open, nothing
# answers) stalls at most one tick by the connect timeout, then the loop goes
# on; SIGTERM restores on that host once it answers again.
cat >"$XV_TEST_DIR/f.conf" <<EOF
[daemon]
interval = 200ms
[domain a]
match = mha
weight = 300
[task t]
domain = a
comm = sleep
EOF
"$X" -b libvirt -c "${URI[1]}" --connect-timeout 1 run "$XV_TEST_DIR/f.conf" --timeline "$XV_TEST_DIR/f.jsonl" \
        >"$XV_TEST_DIR/f.log" 2>&1 &
dpid=$!
xv_on_exit "kill -TERM $dpid 2>/dev/null; wait $dpid 2>/dev/null"
for ((i = 0; i < 100; i++)); do [ "$(shares 1 mha)" != "$b1" ] && break; sleep 0.1; done
[ "$(shares 1 mha)" != "$b1" ] || fail "(f) the daemon did not set mha's weight on h1: $(tail -3 "$XV_TEST_DIR/f.log")"
lpid=$(cat "$XV_TEST_DIR/h1/libvirtd.pid")
n0=$(wc -l <"$XV_TEST_DIR/f.jsonl")
kill -STOP "$lpid"
xv_on_exit "kill -CONT $lpid 2>/dev/null"
# The rediscovery's call on the open connection is cut by libvirt's keepalive
# (2 s x 3: about 8 s after h1's last answer): one line, the loop ticking on
# meanwhile (before: the call waited for good, silently).
t0=$SECONDS
for ((i = 0; i < 200; i++)); do grep -q "libvirt connection lost" "$XV_TEST_DIR/f.log" && break; sleep 0.1; done
n1=$(wc -l <"$XV_TEST_DIR/f.jsonl")
log "(f) $((SECONDS - t0)) s to the lost line; $((n1 - n0)) ticks meanwhile: $(grep "connection lost" "$XV_TEST_DIR/f.log")"
assert_eq 1 "$(grep -c "^xvsched: warning: $H1: libvirt connection lost: no answer within about 8 s" "$XV_TEST_DIR/f.log")" \
        "(f) one line for the lost connection to h1 (within 20 s)"
# 200 ms ticks, one rediscovery held by the 1 s timeout: far more than 3 ticks
assert_le 3 "$((n1 - n0))" "(f) ticks while h1's libvirtd was stopped"
kill -CONT "$lpid"
# the connection attempt in flight meanwhile answers: the host is back
for ((i = 0; i < 200; i++)); do grep -q "$H1: libvirt connection back" "$XV_TEST_DIR/f.log" && break; sleep 0.1; done
grep -q "$H1: libvirt connection back" "$XV_TEST_DIR/f.log" || fail "(f) no new connection to h1 after SIGCONT: $(tail -3 "$XV_TEST_DIR/f.log")"
assert_eq 1 "$(grep -c "connection lost" "$XV_TEST_DIR/f.log")" "(f) still one lost line after h1 came back"
kill -0 "$dpid" 2>/dev/null || fail "(f) the daemon died: $(tail -3 "$XV_TEST_DIR/f.log")"
kill -TERM "$dpid"
wait "$dpid" || fail "(f) the daemon exited with $?: $(tail -3 "$XV_TEST_DIR/f.log")"
assert_eq "$b1" "$(shares 1 mha)" "(f) mha's weight restored on h1 by the daemon's exit"

# ---- (g) one daemon, a loop per host
t1=$(shares 1 twin) t2=$(shares 2 twin) b2=$(shares 2 mhb) mport=$(free_port)
cat >"$XV_TEST_DIR/g.conf" <<EOF
[hosts]
${URI[1]}
${URI[2]}
[daemon]
interval = 200ms
metrics = 127.0.0.1:$mport
[domain a]
match = mha@$H1
weight = 300
[domain mhb@$H2]
weight = 400
[domain twin]
weight = 250
EOF
# -c wins over [hosts]: with h1 alone, the rule bound to h2 is refused
if out=$("$X" -b libvirt -c "${URI[1]}" run "$XV_TEST_DIR/g.conf" 2>&1); then fail "(g) -c h1 with a rule for h2 started"; fi
assert_eq 1 "$(echo "$out" | wc -l)" "(g) -c h1: one line ($out)"
assert_match "g.conf:10: domain 'mhb@$H2' is bound to host $H2, not this daemon's \($H1\)" "$out" "(g) -c h1: why"
sed 's/^match = mha@.*/match = mha@nohost/' "$XV_TEST_DIR/g.conf" >"$XV_TEST_DIR/g-bad.conf"
if out=$("$X" -b libvirt run "$XV_TEST_DIR/g-bad.conf" 2>&1); then fail "(g) a rule bound to an unknown host started"; fi
assert_match "g-bad.conf:7: domain 'a' is bound to host nohost, which is none of the daemon's \($H1, $H2\)" "$out" \
        "(g) unknown host: why"
"$X" -b libvirt --connect-timeout 1 run "$XV_TEST_DIR/g.conf" --timeline "$XV_TEST_DIR/g.jsonl" >"$XV_TEST_DIR/g.log" 2>&1 &
gpid=$!
xv_on_exit "kill -TERM $gpid 2>/dev/null; wait $gpid 2>/dev/null"
applied() { [ "$(shares 1 mha)" != "$b1" ] && [ "$(shares 2 mhb)" != "$b2" ] && [ "$(shares 1 twin)" != "$t1" ] &&
                [ "$(shares 2 twin)" != "$t2" ]; }
for ((i = 0; i < 100; i++)); do applied && break; sleep 0.1; done
applied || fail "(g) not every host's rule applied: mha@h1 $(shares 1 mha) mhb@h2 $(shares 2 mhb) twin $(shares 1 twin)/$(shares 2 twin): $(tail -3 "$XV_TEST_DIR/g.log")"
w1=$(shares 1 mha)
hosts_of() { "$X" status --json | python3 -c 'import json,sys
s=json.load(sys.stdin); h={x["host"]: x["tick"] for x in s["hosts"]}
print(" ".join(sorted(d["domain"]+"@"+d["host"] for d in s["domains"])), h.get(sys.argv[1], -1))' "$1"; }
st=$(hosts_of "$H1") || fail "(g) status failed"
want=$(printf '%s\n' "a@$H1" "twin@$H1" "mhb@$H2@$H2" "twin@$H2" | LC_ALL=C sort | paste -sd' ')
assert_eq "$want" "${st% *}" "(g) status: each domain with its host"
"$X" status | grep -q "^$H2 \+twin " || fail "(g) status's text names the host: $("$X" status)"
m=$(curl -sf --max-time 5 "http://127.0.0.1:$mport/metrics") || fail "(g) GET /metrics failed"
for dh in "a $H1" "twin $H1" "twin $H2"; do
        echo "$m" | grep -qF "xvsched_domain_present{host=\"${dh#* }\",domain=\"${dh% *}\"} 1" ||
                fail "(g) /metrics: no xvsched_domain_present of ${dh% *} on ${dh#* }: $(echo "$m" | grep domain_present)"
done
# reload: new rules checked on both hosts, every loop restarted with them
tw=$(($(shares 1 twin) * 350 / 250))
sed -i 's/^weight = 250$/weight = 350/' "$XV_TEST_DIR/g.conf"
"$X" reload >/dev/null || fail "(g) reload failed: $(tail -3 "$XV_TEST_DIR/g.log")"
for ((i = 0; i < 100; i++)); do [ "$(shares 1 twin) $(shares 2 twin)" = "$tw $tw" ] && break; sleep 0.1; done
assert_eq "$tw $tw" "$(shares 1 twin) $(shares 2 twin)" "(g) twin's new weight on both hosts after reload"
st=$(hosts_of "$H1") || fail "(g) status failed after reload"
lpid2=$(cat "$XV_TEST_DIR/h2/libvirtd.pid")
k0=${st##* }
kill -STOP "$lpid2"
xv_on_exit "kill -CONT $lpid2 2>/dev/null"
sleep 1.5
st=$(hosts_of "$H1") || fail "(g) status failed while h2 was stopped"
kill -CONT "$lpid2"
k1=${st##* }
log "h1's loop: $((k1 - k0)) ticks in the 1.5 s h2's libvirtd was stopped"
# 200 ms ticks: h1's loop is h1's alone (no bound on how many, only that it went on)
assert_le 3 "$((k1 - k0))" "(g) h1's ticks while h2's libvirtd was stopped"
assert_eq "$w1" "$(shares 1 mha)" "(g) mha's weight on h1 kept meanwhile"
kill -0 "$gpid" 2>/dev/null || fail "(g) the daemon died: $(tail -3 "$XV_TEST_DIR/g.log")"
kill -TERM "$gpid"
wait "$gpid" || fail "(g) the daemon exited with $?: $(tail -3 "$XV_TEST_DIR/g.log")"
assert_eq "$b1" "$(shares 1 mha)" "(g) mha restored on h1"
assert_eq "$b2" "$(shares 2 mhb)" "(g) mhb restored on h2"
assert_eq "$t1" "$(shares 1 twin)" "(g) twin restored on h1"
assert_eq "$t2" "$(shares 2 twin)" "(g) twin restored on h2"
grep -q '"host":"'"$H2"'"' "$XV_TEST_DIR/g.jsonl" || fail "(g) the timeline's lines name their host"
# a daemon killed (SIGKILL) leaves both hosts changed; the next start restores
# every host's entries from the journal (each on its host) before its loops run
"$X" -b libvirt --connect-timeout 1 run "$XV_TEST_DIR/g.conf" >"$XV_TEST_DIR/g2.log" 2>&1 &
gpid=$!
for ((i = 0; i < 100; i++)); do applied && break; sleep 0.1; done
applied || fail "(g) second run: not every host's rule applied: $(tail -3 "$XV_TEST_DIR/g2.log")"
kill -KILL "$gpid"
wait "$gpid" 2>/dev/null || true
applied || fail "(g) the killed daemon's changes are gone already (nothing left for the next start to restore)"
# (--ticks with a reload midway: the daemon still ends once the new loops
# have ticked their count; it waited for good when a reload lost the signal)
"$X" -b libvirt --connect-timeout 1 run "$XV_TEST_DIR/g.conf" --interval 100ms --ticks 15 >"$XV_TEST_DIR/g3.log" 2>&1 &
gpid=$!
xv_on_exit "kill -TERM $gpid 2>/dev/null; wait $gpid 2>/dev/null"
for ((i = 0; i < 100; i++)); do "$X" status >/dev/null 2>&1 && break; sleep 0.1; done
"$X" reload >/dev/null 2>&1 || log "(g) the --ticks run ended before its reload: $(tail -1 "$XV_TEST_DIR/g3.log")"
for ((i = 0; i < 300; i++)); do kill -0 "$gpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$gpid" 2>/dev/null && fail "(g) run --ticks 15 did not end within 30 s of its reload: $(tail -3 "$XV_TEST_DIR/g3.log")"
wait "$gpid" || fail "(g) the next start failed: $(tail -3 "$XV_TEST_DIR/g3.log")"
grep -q "found 4 values left by a previous run" "$XV_TEST_DIR/g3.log" ||
        fail "(g) the next start found not the killed daemon's 4 values: $(head -3 "$XV_TEST_DIR/g3.log")"
assert_eq "$b1 $b2 $t1 $t2" "$(shares 1 mha) $(shares 2 mhb) $(shares 1 twin) $(shares 2 twin)" \
        "(g) after the next start (--ticks 15, a reload midway): every host restored"
pass "two hosts by URI: list with hosts, set/reset on one host only, remote-only refusals, NAME@HOST, a silent host bounded, a daemon on a remote host, one daemon with a loop per host"
