#!/bin/bash
# The real-VM harness works: two raw-QEMU guests (one with the agent's
# virtio-serial port) and one libvirt guest boot, run their command, report
# XV-READY/XV-EXIT, answer QMP with vCPU thread ids that are real threads named
# "CPU n/TCG|KVM", and the virtio port shows up inside the guest.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_vm
require_cmd libvirtd virtlogd virsh

# shellcheck disable=SC2016  # expanded in the guest
ports='for n in /sys/class/virtio-ports/*/name; do [ -f "$n" ] && echo "PORT $(cat "$n")"; done'

# Bad input fails with a clear one-line error.
out=$(vm start 2>&1) && fail "vm start without --name succeeded"
assert_match '^vm: error: .*--name' "$out" "vm start without --name"
out=$(vm stop no-such-vm 2>&1) && fail "vm stop of an unknown VM succeeded"
assert_match "unknown VM 'no-such-vm'" "$out" "vm stop unknown"
out=$(vm frobnicate 2>&1) && fail "unknown subcommand succeeded"
assert_match "unknown command 'frobnicate'" "$out" "vm frobnicate"

accel=$(vm accel)
assert_match '^(kvm|tcg)$' "$accel" "vm accel"
log "accelerator: $accel"

libvirtd_up

t0=$(date +%s)
raw1=$(vm start --name raw1 --cpus 2 --agent \
        --cmd "echo MARK-raw1 \$(hostname); $ports; sleep 600")
raw2=$(vm start --name raw2 --pvh --cmd 'echo MARK-raw2; exit 7')
lv1=$(vm lv-start --name lv1 --agent --cmd "echo MARK-lv1; $ports; sleep 600")
log "started raw1 (pid $raw1), raw2 (pid $raw2), lv1 (pid $lv1)"

for n in raw1 raw2 lv1; do
        vm wait "$n" --timeout 90
        log "$n: XV-READY after $(($(date +%s) - t0)) s"
done

# raw2 ran its command, reported its status and powered off.
status=0
vm wait-exit raw2 --timeout 30 >/dev/null || status=$?
assert_eq 7 "$status" "raw2 exit status"
console_has raw2 '^MARK-raw2$' 0 || fail "raw2: its command's output is not on the console"
wait_gone "$raw2" 5 || fail "raw2: QEMU (pid $raw2) still runs after the guest powered off"

# The guest's output may follow XV-READY by a moment.
wait_line() { # NAME REGEX
        console_has "$1" "$2" 10 || fail "$1: no line matching /$2/ on its console"
}
wait_line raw1 '^MARK-raw1 raw1$'
wait_line raw1 '^PORT org\.xvsched\.agent\.0$'
wait_line lv1 '^MARK-lv1$'
wait_line lv1 '^PORT org\.xvsched\.agent\.0$'
# The image's /init starts xvagent on the port when the image has it.
if gzip -dc "$XV_IMAGE/initrd.img" | cpio -t --quiet 2>/dev/null | grep -qx 'usr/bin/xvagent'; then
        wait_line raw1 '^xv-init: started xvagent on /dev/vport[0-9]+p[0-9]+ '
        log "raw1: xvagent started in the guest"
fi
[ -S "$XV_RUN/raw1.agent" ] || fail "raw1: no agent socket at $XV_RUN/raw1.agent"
ls /var/lib/libvirt/qemu/channel/target/domain-*-lv1/org.xvsched.agent.0 >/dev/null 2>&1 ||
        fail "lv1: no agent channel socket under /var/lib/libvirt/qemu/channel/target"

# QMP: query-cpus-fast gives thread ids of real, named vCPU threads.
check_vcpus() { # NAME PID NCPUS
        local reply tids tid idx comm count=0
        reply=$(vm qmp "$1" '{"execute":"query-cpus-fast"}') || fail "$1: QMP query-cpus-fast failed"
        tids=$(python3 -c 'import json,sys
for c in json.loads(sys.argv[1])["return"]:
    print(c["cpu-index"], c["thread-id"])' "$reply") || fail "$1: bad QMP reply: $reply"
        while read -r idx tid; do
                [ -d "/proc/$2/task/$tid" ] || fail "$1: vCPU $idx thread $tid is not a thread of pid $2"
                comm=$(cat "/proc/$2/task/$tid/comm")
                assert_match "^CPU $idx/(TCG|KVM)\$" "$comm" "$1: name of vCPU $idx thread $tid"
                count=$((count + 1))
        done <<<"$tids"
        assert_eq "$3" "$count" "$1: number of vCPUs"
        log "$1: vCPU threads $(echo "$tids" | awk '{print $2}' | tr '\n' ' ')ok"
}
check_vcpus raw1 "$raw1" 2
check_vcpus lv1 "$lv1" 1
assert_match "^$raw1\$" "$(vm pid raw1)" "vm pid raw1"
tr '\0' '\n' < "/proc/$raw1/cmdline" | grep -qx 'raw1,debug-threads=on' ||
        fail "raw1: QEMU was not started with -name raw1,debug-threads=on"

# The CPU-time readers see the guests run.
ns=$(proc_cpu_ns "$raw1")
[ "$ns" -gt 0 ] || fail "proc_cpu_ns $raw1 gave $ns"
tid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["return"][0]["thread-id"])' \
        "$(vm qmp raw1 '{"execute":"query-cpus-fast"}')")
ns_t=$(thread_cpu_ns "$raw1" "$tid")
{ [ "$ns_t" -gt 0 ] && [ "$ns_t" -le "$ns" ]; } || fail "thread_cpu_ns $raw1 $tid gave $ns_t (process: $ns)"

list=$(vm list)
for n in raw1 raw2 lv1; do
        assert_match "^$n " "$list" "vm list"
done

# Stop: QEMU goes away, the files with it.
vm stop raw1
! pid_alive "$raw1" || fail "raw1: QEMU (pid $raw1) still runs after vm stop"
[ ! -e "$XV_RUN/raw1.qmp" ] || fail "raw1: QMP socket left behind"
vm lv-stop lv1
virsh -c qemu:///system domstate lv1 >/dev/null 2>&1 && fail "lv1: still defined after lv-stop"
wait_gone "$lv1" 5 || fail "lv1: QEMU (pid $lv1) still runs after lv-stop"

pass "3 guests booted in $(($(date +%s) - t0)) s ($accel)"
