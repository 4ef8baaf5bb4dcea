#!/bin/bash
# Introspection on a stock guest (issue 11 item 2): the Debian 12 guest of
# tools/vm/mkdebian (systemd, ~40 modules loaded, each with its split BTF in
# RAM), booted under raw QEMU, no xvagent in it.
#  - attach finds the kernel's own BTF among the guest's BTF headers (more
#    than the 64 at which the old search gave up: "no parsable kernel BTF in
#    guest RAM (65 candidates)"), init_task and every CPU's run queue;
#  - `xvsched ps DOM --via vmi` (the qmp backend) against the guest's own
#    `ps -eL` run through qemu-guest-agent's guest-exec, over repeated scans,
#    each between two ps snapshots: >= 99 % of the threads present in both
#    snapshots are in the vmi view with the same pid and comm (its first 15
#    bytes, what GuestTask.comm holds) as in one of them, at most 1 % of the
#    vmi view is in neither, and >= 95 % of the states agree with one of
#    them (qemu-ga, which runs ps, left out: it is the observer).
# Skips when the Debian image is not built (make debian-image).
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd "${XV_QEMU:-qemu-system-x86_64}" qemu-img python3
XV_DEBIAN=${XV_DEBIAN:-$XV_BUILD/debian/min}
for f in rootfs.img vmlinuz initrd.img; do
        [ -f "$XV_DEBIAN/$f" ] || skip "no Debian image in $XV_DEBIAN ($f missing; build it: make debian-image)"
done
X=$XV_BUILD/src/cli/xvsched
CTL=$XV_BUILD/tools/ctl/vmi-ctl
[ -x "$X" ] || fail "no $X (build first)"
[ -x "$CTL" ] || fail "no $CTL (build first)"
ROUNDS=${XV_STOCK_ROUNDS:-10}

# A name no other QEMU on this host has: the qmp backend finds domains by name.
name=xvsd$$
t0=$(date +%s)
# XV_DEBIAN_KERNEL=trixie: the image's second kernel (mkdebian --kernel trixie).
pid=$(vm start --name "$name" --debian "$XV_DEBIAN" ${XV_DEBIAN_KERNEL:+--kernel "$XV_DEBIAN_KERNEL"} --cpus 2)
pid_alive "$pid" || fail "QEMU pid $pid is not running"
vm wait "$name" --timeout 500
log "guest up in $(( $(date +%s) - t0 )) s ($(cat "$XV_RUN/$name.accel"))"
mods=$(vm exec "$name" --timeout 120 -- /bin/sh -c 'wc -l < /proc/modules') || fail "guest-exec failed"
log "guest: $(vm exec "$name" --timeout 120 -- /bin/uname -r) with $mods modules loaded"

out=$("$CTL" --pid "$pid" --qmp "$XV_RUN/$name.qmp" info) || fail "vmi-ctl info failed"
log "$(echo "$out" | grep -E '^(btf|cpus|time_us)' | tr '\n' ';')"
headers=$(echo "$out" | sed -n 's/^btf .* headers=\([0-9]*\).*/\1/p')
[ -n "$headers" ] || fail "no btf line: $out"
[ "$headers" -gt 64 ] && log "$headers BTF headers in RAM: more than the old search's 64"
assert_match '^cpus 2 ' "$(echo "$out" | grep '^cpus')" "both CPUs' run queues found"

# After a second: the guest has done with the last exec (journald logs it).
guest_ps() {
        vm exec "$name" --timeout 120 -- /bin/sh -c 'sleep 1; exec /bin/ps -eL -o pid=,lwp=,stat=,comm=' >"$1" ||
                fail "guest ps -eL failed"
}
guest_ps "$XV_TEST_DIR/ps.0"
for k in $(seq "$ROUNDS"); do
        "$X" -b qmp ps "$name" --via vmi --json >"$XV_TEST_DIR/vmi.$k" 2>"$XV_TEST_DIR/vmi.$k.err" ||
                fail "round $k: xvsched ps --via vmi failed: $(cat "$XV_TEST_DIR/vmi.$k.err")"
        guest_ps "$XV_TEST_DIR/ps.$k"
done

line=$(python3 - "$XV_TEST_DIR" "$ROUNDS" <<'EOF'
import json, sys
d, rounds = sys.argv[1], int(sys.argv[2])

def ps(k):
    t = {}
    for l in open(f"{d}/ps.{k}"):
        f = l.split(None, 3)
        if len(f) == 4:
            # the model's comm holds 15 bytes (GuestTask.comm); ps shows
            # kthreads' full names and kworkers' whole descriptions
            t[int(f[1])] = (int(f[0]), f[3].rstrip("\n")[:15], f[2][0])
    return t

total = ident = missing = extra = 0
st_total = st_match = 0
shown = 0
for k in range(1, rounds + 1):
    a0, a1 = ps(k - 1), ps(k)
    v = {t["tid"]: (t["pid"], t["comm"], t["state"]) for t in json.load(open(f"{d}/vmi.{k}"))["tasks"]}
    for tid, a in a1.items():
        b = a0.get(tid)
        if b is None:
            continue   # born between the snapshots (ps itself among them)
        total += 1
        x = v.get(tid)
        if x is None:
            missing += 1
            print(f"missing {tid} {a}", file=sys.stderr)
            continue
        if x[0] == a[0] and x[1] in (a[1], b[1]):
            ident += 1
        else:
            if shown < 10:
                shown += 1
                print(f"differs tid={tid} ps={b}/{a} vmi={x}", file=sys.stderr)
            continue
        # qemu-ga runs the ps (and answers the host meanwhile): the observer
        if a[1] == "qemu-ga":
            continue
        st_total += 1
        if x[2] in (a[2], b[2]):
            st_match += 1
        elif shown < 10:
            shown += 1
            print(f"state tid={tid} ps={b[2]}/{a[2]} vmi={x[2]} ({x[1]})", file=sys.stderr)
    for tid in v:
        if tid not in a0 and tid not in a1:
            extra += 1
            print(f"extra {tid} {v[tid]}", file=sys.stderr)
print(f"rounds={rounds} tasks={total} same={ident} missing={missing} extra={extra} state={st_match}/{st_total} "
      f"same_permille={ident * 1000 // max(total, 1)} extra_permille={extra * 1000 // max(total, 1)} "
      f"state_permille={st_match * 1000 // max(st_total, 1)}")
EOF
) || fail "comparison failed"
log "$line"
field() { local v=${line##* "$1"=}; echo "${v%% *}"; }
n=$(field tasks)
[ "$n" -ge $((ROUNDS * 40)) ] || fail "too few threads compared ($n)"
[ "$(field same_permille)" -ge 990 ] ||
        fail "only $(field same_permille) per mille of the guest's threads are in the vmi view as ps -eL shows them"
[ "$(field extra_permille)" -le 10 ] || fail "$(field extra_permille) per mille of the vmi view is in neither ps snapshot"
# A thread's state flips between ps and the scan (rcu_preempt, a waking
# worker); a wrong state field would be wrong for every thread.
[ "$(field state_permille)" -ge 950 ] || fail "only $(field state_permille) per mille of the states agree"

pass "stock Debian guest: kernel BTF among $headers headers; ps --via vmi vs ps -eL over $ROUNDS scans: $(field same_permille) per mille of threads the same, states $(field state_permille) per mille"
