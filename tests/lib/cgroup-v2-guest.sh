#!/bin/bash
# Runs INSIDE a stock Debian 12 guest (systemd, unified cgroup hierarchy) as
# root, from the payload disk that tests/integration/stock-debian.sh (phase
# cgroup) hot-plugs: xvsched and its libraries next to this script.  Real services
# are the local domains.  Prints "FIGURE key value" lines for the host and
# "FAIL: ..." (exit 1) on the first wrong answer; "DONE" at the end.
#
# usage: cgroup-v2-guest.sh [SECONDS_PER_MEASUREMENT]
#
# Under TCG every process start costs about a second of guest CPU on a loaded
# host, so the helpers below read files with bash builtins and ask systemd
# about all units in one call: the script's time is mostly its measurement
# windows.  The shares are loose bounds (the weights and the cap act and point
# the right way); what reset --all restores is compared exactly.
set -uo pipefail

P=$(cd "$(dirname "$0")" && pwd)
T=${1:-8}
export LD_LIBRARY_PATH=$P/lib
export XVSCHED_STATE_DIR=/run/xvtest-state
CG=/sys/fs/cgroup
UNITS="xv-a xv-b xv-m xv-d xv-ia xv-ib"

# Each line also goes to the serial console, which the host can read while
# the script runs (guest-exec returns its output only at the end).
say() {
        echo "$*"
        echo "XVG: $*" > /dev/ttyS0 2>/dev/null || true
}
fail() { say "FAIL: $*"; exit 1; }
figure() { say "FIGURE $*"; }
step() { say "STEP $* ($(cut -d' ' -f1 /proc/uptime))"; }
xv() { "$P/xvsched" -l a=cgroup:/system.slice/xv-a.service -l b=cgroup:/system.slice/xv-b.service \
        -l m=cgroup:/system.slice/xv-m.service -l d=cgroup:/xvtest.slice/xv-d.service/w \
        -l ia=cgroup:/system.slice/xv-ia.service -l ib=cgroup:/system.slice/xv-ib.service ${EXTRA_LOCAL:-} "$@"; }
usage_us() {
        local k v
        while read -r k v; do
                [ "$k" = usage_usec ] && { echo "$v"; return; }
        done < "$CG$1/cpu.stat"
}
now_us() { echo $(( $(date +%s%N) / 1000 )); }
# A file's lines joined by ';' (as `tr '\n' ';'`), without a fork.
filev() {
        local -a l
        if [ -e "$1" ] && mapfile -t l < "$1" 2>/dev/null; then
                local IFS=';'
                echo "${l[*]};"
        else
                echo absent
        fi
}

# --- the host as systemd runs it ------------------------------------------
step facts
[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm), not systemd"
[ -f $CG/cgroup.controllers ] || fail "no unified hierarchy at $CG"
[ -d /run/systemd/system ] || fail "no /run/systemd/system"
figure root_subtree_control "$(cat $CG/cgroup.subtree_control)"
"$P/xvsched" --version >/dev/null || fail "xvsched does not run here (libraries?)"

# --- real services: unit files, started by systemd ---------------------------
step services
for u in xv-a xv-b; do
        printf '[Service]\nExecStart=/bin/sh -c "while :; do :; done"\n' > /etc/systemd/system/$u.service
done
# OOMPolicy=continue: an OOM kill in it must not stop the unit (the default,
# stop, would take its group and memory.events with it).  xv-ia and xv-ib
# idle until the ioweight step moves readers into their groups.
for u in xv-m xv-ia xv-ib; do
        printf '[Service]\nOOMPolicy=continue\nExecStart=/bin/sleep infinity\n' > /etc/systemd/system/$u.service
done
# A delegated service (in a slice of its own, so that system.slice keeps
# "memory pids") that runs its process in a subgroup of its own.
cat > /etc/systemd/system/xv-d.service <<'EOF'
[Service]
Slice=xvtest.slice
Delegate=yes
ExecStart=/bin/sh -c 'd=/sys/fs/cgroup/xvtest.slice/xv-d.service; mkdir -p $d/w; echo $$ > $d/w/cgroup.procs; exec sleep infinity'
EOF
systemctl daemon-reload
systemctl start xv-a xv-b xv-m xv-d xv-ia xv-ib || fail "cannot start the test services"
for _ in $(seq 50); do [ -s $CG/xvtest.slice/xv-d.service/w/cgroup.procs ] && break; sleep 0.1; done

# BFQ on the payload disk (the disk this script runs from; virtio-blk's
# default is "none", under which io weights do nothing): before the
# snapshot, since loading BFQ adds the io.bfq.weight files.
DEV=$(findmnt -no SOURCE --target "$P") || fail "no device under $P"
BLK=${DEV##*/}
modprobe bfq || fail "modprobe bfq failed (stock Debian ships bfq.ko)"
echo bfq > /sys/block/"$BLK"/queue/scheduler || fail "cannot select bfq on $BLK"
# BFQ keeps serving a queue while its process issues the next request
# within slice_idle (8 ms by default).  A TCG guest on a loaded host takes
# longer than that between two reads, so BFQ switched queues at every
# request and the shares came out 51/51 whatever the weights (host load
# ~30); 100 ms keeps the in-service group's queue until its budget is used.
echo 100 > /sys/block/"$BLK"/queue/iosched/slice_idle || fail "cannot set bfq's slice_idle on $BLK"
figure io_scheduler "$BLK $(cat /sys/block/"$BLK"/queue/scheduler)"

# What reset must bring back: every file and every unit property.
# fileline KEY FILE: "KEY=" and what filev prints, without the fork of a
# command substitution (a snapshot reads ~50 files, three times).
fileline() {
        local -a l
        if [ -e "$2" ] && mapfile -t l < "$2" 2>/dev/null; then
                local IFS=';'
                echo "$1=${l[*]};"
        else
                echo "$1=absent"
        fi
}
snapshot() {
        local u f sl
        for f in $CG $CG/system.slice $CG/xvtest.slice $CG/xvtest.slice/xv-d.service; do
                fileline "$f/cgroup.subtree_control" "$f/cgroup.subtree_control"
        done
        for u in $UNITS; do
                sl=system.slice
                [ "$u" = xv-d ] && sl=xvtest.slice
                for f in cpu.weight cpu.max cpuset.cpus cpuset.mems memory.max io.weight io.bfq.weight; do
                        fileline "$sl/$u/$f" "$CG/$sl/$u.service/$f"
                done
        done
        # One call for all units: their blocks in this order.
        # shellcheck disable=SC2086
        systemctl show -p Id,CPUWeight,CPUQuotaPerSecUSec,CPUQuotaPeriodUSec,AllowedCPUs,AllowedMemoryNodes,MemoryMax,IOWeight ${UNITS// /.service }.service
        for f in cpu.weight cpu.max cpu.idle; do
                fileline "d-w/$f" "$CG/xvtest.slice/xv-d.service/w/$f"
        done
}
snapshot > /run/xv-before
figure system_slice_subtree_control "$(cat $CG/system.slice/cgroup.subtree_control)"

# --- systemd refuses: one line, nothing half-applied ------------------------------
# A group systemd has no unit for (the unit vanished; its group is still
# there, with a process): nice (a thread lever, applied first) then weight
# (a unit property systemd refuses).  One error line with systemd's words,
# non-zero exit, the nice undone, the state file as before, no drop-in.
step refuse
mkdir -p $CG/system.slice/xv-ghost.service
sleep infinity < /dev/null > /dev/null 2>&1 &
gpid=$!
echo "$gpid" > $CG/system.slice/xv-ghost.service/cgroup.procs || fail "cannot move pid $gpid into xv-ghost.service"
read -r -a st < /proc/$gpid/stat; nice0=${st[18]}
w0=$(filev $CG/system.slice/xv-ghost.service/cpu.weight)
state0=$(filev $XVSCHED_STATE_DIR/state.json)
rc=0
EXTRA_LOCAL="-l g=cgroup:/system.slice/xv-ghost.service" xv set g nice=5 weight=300 2> /run/xv-refuse-err || rc=$?
err=$(filev /run/xv-refuse-err)
figure refused "rc=$rc $err"
[ "$rc" != 0 ] || fail "set on a unit systemd does not know succeeded"
mapfile -t l < /run/xv-refuse-err
[ "${#l[@]}" = 1 ] || fail "the refusal printed ${#l[@]} lines: $err"
case "${l[0]}" in
"xvsched: error: g: weight=300: systemd refused CPUWeight=300 on xv-ghost.service: "*"xv-ghost.service"*) ;;
*) fail "the refusal does not say that systemd refused, and why: ${l[0]}" ;;
esac
read -r -a st < /proc/$gpid/stat
[ "${st[18]}" = "$nice0" ] || fail "nice=5 of the refused set was left applied (nice ${st[18]}, was $nice0)"
[ "$(filev $CG/system.slice/xv-ghost.service/cpu.weight)" = "$w0" ] || fail "xv-ghost cpu.weight changed"
state1=$(filev $XVSCHED_STATE_DIR/state.json)
if [ "$state1" != "$state0" ]; then
        # none before: an empty one now is the same state
        case "$state0 ${state1// /}" in
        "absent "*'"entries":[;];'*) ;;
        *) fail "the refused set changed the state file: $state0 → $state1" ;;
        esac
fi
[ ! -e /run/systemd/system.control/xv-ghost.service.d ] || fail "systemd kept a drop-in for xv-ghost.service"
kill "$gpid"; wait "$gpid" 2>/dev/null
rmdir $CG/system.slice/xv-ghost.service 2>/dev/null || true

# --- io weight: IOWeight, in effect under BFQ ----------------------------------
# Two readers of the payload disk with O_DIRECT (no page cache), one in
# xv-ia, one in xv-ib; ioweight 80 : 10 (systemd maps IOWeight 1..100 to the
# same io.bfq.weight; above 100 it compresses: 1000 → 181).  The figure is
# xv-ia's share of the bytes both read (io.stat rbytes); the bound is the
# direction only: the heavier group reads more, then, swapped, less.
step ioweight
rbytes() {
        local l f s=0
        while read -r -a l; do
                for f in "${l[@]:1}"; do
                        [ "${f%%=*}" = rbytes ] && s=$((s + ${f#*=}))
                done
        done < "$CG/system.slice/$1.service/io.stat"
        echo "$s"
}
io_share() {   # WINDOW_SECONDS → SHARE: xv-ia's per cent of the bytes read
        local a0 b0 a1 b1
        sleep 0.5
        a0=$(rbytes xv-ia); b0=$(rbytes xv-ib)
        sleep "$1"
        a1=$(rbytes xv-ia); b1=$(rbytes xv-ib)
        [ $((a1 - a0 + b1 - b0)) -gt 0 ] || fail "the readers read nothing"
        figure io_mb_per_s "xv-ia $(( (a1 - a0) / 1048576 / $1 )) xv-ib $(( (b1 - b0) / 1048576 / $1 ))"
        MBS=$(( (a1 - a0 + b1 - b0) / 1048576 / $1 ))
        SHARE=$((100 * (a1 - a0) / (a1 - a0 + b1 - b0)))
}
xv set ia ioweight=80 || fail "set ia ioweight=80"
xv set ib ioweight=10 || fail "set ib ioweight=10"
# shellcheck disable=SC2046  # the words, without the blank line between units
props=$(echo $(systemctl show -p IOWeight --value xv-ia xv-ib))
[ "$props" = "80 10" ] || fail "systemd says IOWeight of xv-ia, xv-ib: $props (not 80 10)"
for u in ia:80 ib:10; do
        w=$(filev $CG/system.slice/xv-${u%:*}.service/io.weight)
        bfq=$(filev $CG/system.slice/xv-${u%:*}.service/io.bfq.weight)
        figure ioweight_files "xv-${u%:*} io.weight=$w io.bfq.weight=$bfq"
        [ "$w;$bfq" = "default ${u#*:};;default ${u#*:};" ] ||
                fail "ioweight=${u#*:}: io.weight '$w', io.bfq.weight '$bfq'"
done
# The spinners of xv-a and xv-b hold still meanwhile (SIGSTOP): where the
# guest's CPUs are the bottleneck, not the disk, BFQ has nothing to share
# out (under a load of ~28 on this host's 2 cores the readers got 5-9 MB/s
# and 51-54 % either way round).
spinners="$(systemctl show -p MainPID --value xv-a) $(systemctl show -p MainPID --value xv-b)"
# shellcheck disable=SC2086
kill -STOP $spinners
for u in xv-ia xv-ib; do
        sh -c "echo \$\$ > $CG/system.slice/$u.service/cgroup.procs; while :; do dd if=$DEV of=/dev/null bs=256k iflag=direct 2>/dev/null; done" \
                < /dev/null > /dev/null 2>&1 &
done
io_share "$T"
heavy=$SHARE
mbs=$MBS
figure ioweight_share_ia_80_10 "$heavy"
xv set ia ioweight=10 || fail "set ia ioweight=10"
xv set ib ioweight=80 || fail "set ib ioweight=80"
io_share "$T"
figure ioweight_share_ia_10_80 "$SHARE"
# shellcheck disable=SC2086
kill -CONT $spinners
# The direction: xv-ia reads a larger share as the heavier group than as
# the lighter one (a pair of windows: where each reader sits on the disk
# and which started first cancel out).
# Only where the disk is what the readers wait for: a guest starved of CPU
# (4-14 MB/s together at host load ~30) issues too slowly for BFQ to have
# anything to share out, and the figures then say nothing either way.
if [ "$mbs" -ge 20 ] || [ "$MBS" -ge 20 ]; then
        [ "$heavy" -gt "$SHARE" ] || fail "xv-ia read $heavy % of the bytes at ioweight 80:10 and $SHARE % at 10:80 (the weights do not act)"
else
        figure ioweight_inconclusive "the readers were CPU-bound ($mbs and $MBS MB/s together)"
fi
# The readers go; the units' main processes stay.
for u in xv-ia xv-ib; do
        main=$(systemctl show -p MainPID --value $u)
        mapfile -t procs < $CG/system.slice/$u.service/cgroup.procs
        for p in "${procs[@]}"; do
                [ "$p" = "$main" ] || kill "$p" 2>/dev/null
        done
done

# --- cpus: thread affinity, both spinners on CPU 0 ---------------------------
step cpus
xv set a cpus=0 || fail "set a cpus=0"
xv set b cpus=0 || fail "set b cpus=0"
for u in xv-a xv-b; do
        pid=$(systemctl show -p MainPID --value $u)
        aff=$(taskset -pc "$pid" | awk '{print $NF}')
        [ "$aff" = 0 ] || fail "$u (pid $pid) affinity is $aff, not 0"
done

# --- weight 4:1 → about 80/20 -------------------------------------------------
step weight
xv set a weight=400 || fail "set a weight=400"
xv set b weight=100 || fail "set b weight=100"
[ "$(cat $CG/system.slice/xv-a.service/cpu.weight)" = 400 ] || fail "xv-a cpu.weight is $(filev $CG/system.slice/xv-a.service/cpu.weight)"
[ "$(cat $CG/system.slice/xv-b.service/cpu.weight)" = 100 ] || fail "xv-b cpu.weight is $(filev $CG/system.slice/xv-b.service/cpu.weight)"
[ "$(systemctl show -p CPUWeight --value xv-a)" = 400 ] || fail "systemd says xv-a CPUWeight=$(systemctl show -p CPUWeight --value xv-a)"
sleep 1
a0=$(usage_us /system.slice/xv-a.service); b0=$(usage_us /system.slice/xv-b.service); t0=$(now_us)
sleep "$T"
a1=$(usage_us /system.slice/xv-a.service); b1=$(usage_us /system.slice/xv-b.service); t1=$(now_us)
da=$((a1 - a0)); db=$((b1 - b0))
[ $((da + db)) -gt 0 ] || fail "the spinners did not run"
share=$((100 * da / (da + db)))
figure weight_share_a "$share"
# xv-a's use of a CPU while uncapped, for the cap's comparison below.
uncap_pct=$((100 * da / (t1 - t0)))
figure uncapped_pct_a "$uncap_pct"
# 4:1 is 80 %; the bound only says the weights act and point the right way
# (the heavier one gets clearly more than half).
[ "$share" -ge 58 ] && [ "$share" -le 97 ] || fail "weight 4:1 gave xv-a $share % of CPU 0 (expected about 80)"

# --- cap 25 → at most about 25 % of a CPU --------------------------------------
step cap
xv set a cap=25 || fail "set a cap=25"
[ "$(cat $CG/system.slice/xv-a.service/cpu.max)" = "25000 100000" ] || fail "xv-a cpu.max is $(filev $CG/system.slice/xv-a.service/cpu.max)"
[ "$(systemctl show -p CPUQuotaPerSecUSec --value xv-a)" = 250ms ] || fail "systemd says xv-a CPUQuotaPerSecUSec=$(systemctl show -p CPUQuotaPerSecUSec --value xv-a)"
sleep 1
a0=$(usage_us /system.slice/xv-a.service); t0=$(now_us)
sleep "$T"
a1=$(usage_us /system.slice/xv-a.service); t1=$(now_us)
cap_pct=$((100 * (a1 - a0) / (t1 - t0)))
figure cap25_pct_a "$cap_pct"
# Never above the cap (+5 for the period edges), and well below xv-a's
# uncapped use (unless a starved vCPU gave even that little).
[ "$cap_pct" -le 30 ] || fail "cap=25 let xv-a use $cap_pct % of a CPU"
[ "$cap_pct" -ge 1 ] || fail "cap=25 left xv-a no CPU at all"
if [ "$uncap_pct" -ge 45 ]; then
        [ "$cap_pct" -le $((uncap_pct * 3 / 4)) ] || fail "cap=25 gave xv-a $cap_pct %, not well below its uncapped $uncap_pct %"
fi

# --- memory: MemoryMax, and a hog in the group is killed ----------------------
step memory
xv set m memory=16M || fail "set m memory=16M"
[ "$(cat $CG/system.slice/xv-m.service/memory.max)" = 16777216 ] || fail "xv-m memory.max is $(filev $CG/system.slice/xv-m.service/memory.max)"
[ "$(systemctl show -p MemoryMax --value xv-m)" = 16777216 ] || fail "systemd says xv-m MemoryMax=$(systemctl show -p MemoryMax --value xv-m)"
oom0=$(awk '$1 == "oom_kill" { print $2 }' $CG/system.slice/xv-m.service/memory.events)
# dd's 48 MB buffer, filled from /dev/zero, is charged to the group at once.
sh -c "echo \$\$ > $CG/system.slice/xv-m.service/cgroup.procs; exec dd if=/dev/zero of=/dev/null bs=48M count=1" > /run/xv-hog 2>&1
oom1=$(awk '$1 == "oom_kill" { print $2 }' $CG/system.slice/xv-m.service/memory.events)
[ "$oom1" -gt "$oom0" ] || fail "a 48 MB hog under memory=16M was not OOM-killed (memory.events oom_kill $oom0 → $oom1; $(cat /run/xv-hog))"
figure memory_oom_kills "$((oom1 - oom0))"

# --- mems: AllowedMemoryNodes ----------------------------------------------------
step mems
xv set m mems=0 || fail "set m mems=0"
[ "$(cat $CG/system.slice/xv-m.service/cpuset.mems)" = 0 ] || fail "xv-m cpuset.mems is $(filev $CG/system.slice/xv-m.service/cpuset.mems)"
[ "$(cat $CG/system.slice/xv-m.service/cpuset.mems.effective)" = 0 ] || fail "xv-m cpuset.mems.effective is $(filev $CG/system.slice/xv-m.service/cpuset.mems.effective)"
[ "$(systemctl show -p AllowedMemoryNodes --value xv-m)" = 0 ] || fail "systemd says xv-m AllowedMemoryNodes=$(systemctl show -p AllowedMemoryNodes --value xv-m)"

# --- a delegated subtree: the file, cpu enabled in the service's own group -------
step delegated
xv set d weight=300 || fail "set d weight=300 (delegated)"
[ "$(cat $CG/xvtest.slice/xv-d.service/w/cpu.weight)" = 300 ] || fail "xv-d.service/w cpu.weight is $(filev $CG/xvtest.slice/xv-d.service/w/cpu.weight)"
xv set d idle=yes && [ "$(cat $CG/xvtest.slice/xv-d.service/w/cpu.idle)" = 1 ] || fail "set d idle=yes: xv-d.service/w cpu.idle is $(filev $CG/xvtest.slice/xv-d.service/w/cpu.idle)"
figure delegated_subtree_control "$(cat $CG/xvtest.slice/xv-d.service/cgroup.subtree_control)"

# --- a process in a shared group: moved into a transient scope -------------------
step scope
setsid sh -c 'while :; do :; done' < /dev/null > /dev/null 2>&1 &
cpid=$!
home=$(awk -F: '$1 == 0 { print $3 }' /proc/$cpid/cgroup)
EXTRA_LOCAL="-l c=pid:$cpid" xv set c weight=200 || fail "set c weight=200 (pid in $home)"
now=$(awk -F: '$1 == 0 { print $3 }' /proc/$cpid/cgroup)
[ "$now" = /xvsched.slice/xvsched-c.scope ] || fail "pid $cpid is in $now, not in /xvsched.slice/xvsched-c.scope"
[ "$(systemctl show -p CPUWeight --value xvsched-c.scope)" = 200 ] || fail "xvsched-c.scope CPUWeight=$(systemctl show -p CPUWeight --value xvsched-c.scope)"
[ "$(cat $CG/xvsched.slice/xvsched-c.scope/cpu.weight)" = 200 ] || fail "xvsched-c.scope cpu.weight is $(filev $CG/xvsched.slice/xvsched-c.scope/cpu.weight)"
figure scope_from "$home"

# --- reset that systemd refuses: its words, the entry kept -------------------------
# xv-m's MemoryMax entry, renamed in the state file to a property systemd
# does not have: reset m fails naming the property, the unit and systemd's
# reason (as set does), keeps that entry, and exits non-zero.  The good
# state file then goes back for the full reset below.
step refuse-reset
cp "$XVSCHED_STATE_DIR/state.json" /run/xv-state-good
sed -i 's/unit:MemoryMax=/unit:XvBogus=/' "$XVSCHED_STATE_DIR/state.json"
grep -q 'unit:XvBogus=' "$XVSCHED_STATE_DIR/state.json" || fail "no MemoryMax entry for xv-m in the state file to corrupt"
rc=0
"$P/xvsched" reset m 2> /run/xv-refuse-reset || rc=$?
figure reset_refused "rc=$rc $(tr '\n' ' ' < /run/xv-refuse-reset)"
[ "$rc" != 0 ] || fail "reset of an entry systemd refuses succeeded"
grep -q "systemd refused XvBogus=.* on xv-m.service: .*XvBogus" /run/xv-refuse-reset ||
        fail "the refused reset does not give systemd's words: $(tr '\n' ' ' < /run/xv-refuse-reset)"
grep -q 'unit:XvBogus=' "$XVSCHED_STATE_DIR/state.json" || fail "the refused entry was dropped from the state file"
cp /run/xv-state-good "$XVSCHED_STATE_DIR/state.json"

# --- reset: every file and every unit property as before ---------------------------
step reset
snapshot > /run/xv-during
"$P/xvsched" reset --all || fail "reset --all"
snapshot > /run/xv-after
if ! diff /run/xv-before /run/xv-after > /run/xv-diff; then
        fail "reset --all left differences: $(tr '\n' ' ' < /run/xv-diff)"
fi
figure changed_then_restored "$(diff /run/xv-before /run/xv-during | grep -c '^>')"
now=$(awk -F: '$1 == 0 { print $3 }' /proc/$cpid/cgroup)
[ "$now" = "$home" ] || fail "pid $cpid is in $now after reset, not back in $home"
state=$(systemctl show -p LoadState --value xvsched-c.scope)
active=$(systemctl show -p ActiveState --value xvsched-c.scope)
[ "$active" != active ] || fail "xvsched-c.scope still active after reset ($state)"
for u in xv-a xv-b; do
        pid=$(systemctl show -p MainPID --value $u)
        aff=$(taskset -pc "$pid" | awk '{print $NF}')
        [ "$aff" != 0 ] || fail "$u affinity still 0 after reset"
done
figure dropins "$(ls /run/systemd/system.control 2>/dev/null | tr '\n' ' ')"
kill "$cpid" 2>/dev/null
systemctl stop xv-a xv-b xv-m xv-d
say DONE
