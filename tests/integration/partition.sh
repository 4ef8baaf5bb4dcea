#!/bin/bash
# `xvsched partition` (paper 001's Mint partitions): a raw QEMU guest and
# two host processes (local domains) placed into partitions;
# every QEMU thread's affinity (sched_getaffinity, taskset -p) and the
# cgroup's cpuset.mems are checked; overlapping partitions, unknown
# domains, a domain in two partitions and a member that fails part-way are
# refused in one line with nothing changed; move re-places every member at
# run time; remove, `reset DOMAIN`, delete and `reset --all` put back what
# was there.  One guest boot: ~10 s on an idle 2-core host.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_vm
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs (two partitions of one CPU each)"

export XVSCHED_STATE_DIR="$XV_TEST_DIR/state"
sleep 1000 &
hs=$!
sleep 1000 &
pc=$!
xv_on_exit "kill $hs $pc"
# Host processes as domains too (local backend): a partition's member need
# not be a VM.  The guest's QEMU is a local domain as well (its process
# tree: every thread), which keeps each command free of QMP and libvirt
# round trips (seconds each beside other guests); the last part finds it
# through the qmp backend.
X() { "$XV_BUILD/src/cli/xvsched" -b local -l "pa=pid:$pa" -l "hs=pid:$hs" -l "pc=pid:$pc" "$@"; }

vm start --name pa --pvh --cmd "sleep 1000" --stay >/dev/null
vm wait pa
pa=$(vm pid pa)
all=$(taskset -pc $$ | sed 's/.*: //')

# affinity PID: the distinct CPU lists of its threads (sched_getaffinity).
affinity() {
        local t
        for t in /proc/"$1"/task/*; do taskset -pc "${t##*/}" 2>/dev/null | sed 's/.*: //'; done | sort -u | tr '\n' ' '
}
cgroups() { cat "/proc/$1/cgroup"; }
# cpuset.mems of pid's cpuset group (v1 or v2).
mems_of() {
        local cg
        if cg=$(sed -n 's/^[0-9]*:cpuset:\(.*\)/\1/p' "/proc/$1/cgroup") && [ -n "$cg" ]; then
                cat "/sys/fs/cgroup/cpuset$cg/cpuset.mems"
        else
                cg=$(sed -n 's/^0::\(.*\)/\1/p' "/proc/$1/cgroup")
                cat "/sys/fs/cgroup$cg/cpuset.mems"
        fi
}
parts() { X partition list --json | python3 -c 'import json,sys; print(" ".join("%s:%s:%s:%s" % (p["name"], p["cpus"], p["mems"], ",".join(p["members"])) for p in json.load(sys.stdin)))'; }

cg_pa=$(cgroups "$pa")
cg_pc=$(cgroups "$pc")
assert_eq "$all " "$(affinity "$pa")" "pa's threads may run on every CPU before"

# --- create: a partition of two domains ------------------------------------
out=$(X partition create A --cpus 0 pa hs)
assert_match "partition A: cpus 0, 2 domains placed: pa, hs" "$out" "create says what it placed"
assert_eq "0 " "$(affinity "$pa")" "every thread of pa on CPU 0"
assert_eq "0 " "$(affinity "$hs")" "the host process on CPU 0"
assert_eq "$all " "$(affinity "$pc")" "pc untouched"

# --- refusals: one line, exit 1, nothing changed ----------------------------
state=$(cat "$XVSCHED_STATE_DIR/state.json" "$XVSCHED_STATE_DIR/partitions.json")
refused() { # WHAT REGEX CMD...
        local what=$1 re=$2 out
        shift 2
        if out=$("$@" 2>&1); then fail "$what: accepted"; fi
        assert_eq 1 "$(printf '%s\n' "$out" | wc -l)" "$what: one line ($out)"
        assert_match "$re" "$out" "$what"
        assert_eq "$state" "$(cat "$XVSCHED_STATE_DIR/state.json" "$XVSCHED_STATE_DIR/partitions.json")" "$what: state unchanged"
        assert_eq "$all " "$(affinity "$pc")" "$what: pc untouched"
}
refused "overlapping CPUs" "CPU 0 is in partition 'A' already" X partition create B --cpus 0-1 pc
refused "unknown domain" "no domain named 'nosuch'" X partition create B --cpus 1 pc nosuch
refused "a domain in two partitions" "domain 'pa' is in partition 'A' already" X partition create B --cpus 1 pc pa
refused "taken name" "partition 'A' exists already" X partition create A --cpus 1 pc
refused "offline CPU" "cpus=999: " X partition create B --cpus 999 pc
# pc is placed, then a member with no threads fails: pc is given back.
empty=/xvtest-partition-empty-$$
if [ -d /sys/fs/cgroup/cpu ]; then mkdir "/sys/fs/cgroup/cpu$empty"; xv_on_exit "rmdir /sys/fs/cgroup/cpu$empty"
else mkdir "/sys/fs/cgroup$empty"; xv_on_exit "rmdir /sys/fs/cgroup$empty"; fi
refused "a member failing part-way" "partition B: none: .*no .*threads.*\(nothing changed\)" \
        X -l "none=cgroup:$empty" partition create B --cpus 1 pc none
assert_eq "A:0:None:pa,hs" "$(parts)" "only A is listed"

# --- a second partition with memory nodes ----------------------------------
X partition create B --cpus 1 --mems 0 pc >/dev/null
assert_eq "1 " "$(affinity "$pc")" "every thread of pc on CPU 1"
assert_eq 0 "$(mems_of "$pc")" "pc's cpuset.mems"
assert_match "xvsched-pc" "$(cgroups "$pc")" "pc in a cgroup of its own for mems"
refused_move() { if out=$(X partition move A --cpus 0-1 2>&1); then fail "move onto B's CPU accepted"; fi
        assert_match "CPU 1 is in partition 'B' already" "$out" "move refuses an overlap"; }
refused_move
assert_eq "0 " "$(affinity "$pa")" "a refused move leaves pa"

# --- move at run time: swap the partitions' CPUs ---------------------------
X partition move B --cpus 1 >/dev/null   # same CPUs: no-op, allowed
X partition delete B >/dev/null
assert_eq "$all " "$(affinity "$pc")" "delete gives pc its CPUs back"
assert_eq "$cg_pc" "$(cgroups "$pc")" "delete gives pc its cgroups back"
X partition move A --cpus 1 >/dev/null
assert_eq "1 " "$(affinity "$pa")" "move re-places every thread of pa"
assert_eq "1 " "$(affinity "$hs")" "move re-places the host process"
X partition add A pc >/dev/null
assert_eq "1 " "$(affinity "$pc")" "add places a new member"
X partition remove A pc >/dev/null
assert_eq "$all " "$(affinity "$pc")" "remove gives it back"
assert_eq "A:1:None:pa,hs" "$(parts)" "A after move, add, remove"

# --- reset DOMAIN leaves the partition; reset --all leaves none ------------
X reset hs >/dev/null
assert_eq "$all " "$(affinity "$hs")" "reset hs"
assert_eq "A:1:None:pa" "$(parts)" "reset hs drops it from A"
X partition create C --cpus 0 pc >/dev/null
X reset --all >/dev/null
assert_eq "$all " "$(affinity "$pa")" "reset --all: pa"
assert_eq "$all " "$(affinity "$pc")" "reset --all: pc"
assert_eq "$cg_pa" "$(cgroups "$pa")" "reset --all: pa's cgroups"
assert_eq "" "$(parts)" "reset --all leaves no partition"
assert_eq 0 "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["entries"]))' "$XVSCHED_STATE_DIR/state.json")" \
        "journal empty after reset --all"

# --- the QEMU found by the qmp backend --------------------------------------
Q() { "$XV_BUILD/src/cli/xvsched" -b qmp "$@"; }
Q partition create Q --cpus 0 pa >/dev/null
assert_eq "0 " "$(affinity "$pa")" "qmp: placed"
Q partition move Q --cpus 1 >/dev/null
assert_eq "1 " "$(affinity "$pa")" "qmp: moved"
Q partition delete Q >/dev/null
assert_eq "$all " "$(affinity "$pa")" "qmp: deleted"
pass
