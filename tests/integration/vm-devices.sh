#!/bin/bash
# vm start --disk and --net: bad specs are refused with one line before any
# QEMU starts; one busybox guest gets a virtio disk (made sparse), an
# emulated IDE disk (ata_piix loaded on demand through xv.mods=) and a
# virtio NIC on QEMU's user-mode network, 10.0.2.15, with a host port
# forwarded to an xvbench rr server in the guest; the host's rr client
# completes transactions through it.  One boot, ~30-60 s under TCG: suite
# 'slow'.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_vm
img=${XV_IMAGE:-$XV_BUILD/guest}
grep -qx ata_piix "$img/modules.extra" 2>/dev/null ||
        skip "the image $img has no on-demand modules (rebuild it: make guest-image)"

# Bad input: one error line, non-zero exit, no guest, no disk file.
bad() {
        local what=$1 rx=$2 out
        shift 2
        out=$(vm start --name bad "$@" 2>&1) && fail "$what: vm start succeeded"
        assert_eq 1 "$(printf '%s\n' "$out" | wc -l)" "$what: one line"
        assert_match "$rx" "$out" "$what"
}
bad "disk if" "if= must be virtio or ide" --disk "$XV_RUN/x.raw,if=scsi"
bad "disk size" "size= must be" --disk "$XV_RUN/x.raw,size=lots"
bad "disk comma file" "unknown --disk option" --disk "$XV_RUN/x.raw,foo=1"
bad "disk no file" "needs a file name" --disk ",if=ide"
bad "disk odd name" "use letters" --disk "$XV_RUN/a b.raw"
bad "net kind" "must start with 'user'" --net tap
bad "net fwd" "fwd= must be" --net "user,fwd=tcp:99999:1"
bad "net model" "model= must be" --net "user,model=rtl8139"
[ ! -e "$XV_RUN/x.raw" ] || fail "a refused start created its disk"
out=$(vm lv-start --name bad --disk "$XV_RUN/y.raw" 2>&1) && fail "lv-start --disk succeeded"
assert_match "raw QEMU guests only" "$out" "lv-start --disk"
[ ! -e "$XV_RUN/y.raw" ] || fail "a refused lv-start created its disk"
[ ! -e "$XV_RUN/bad.kind" ] || fail "a refused start left bad.kind"

port=$((20000 + RANDOM % 20000))
gcmd='cat /proc/partitions; ip -4 addr show eth0
dd if=/dev/zero of=/dev/vda bs=64k count=16 2>/dev/null && echo VDA-WRITE-OK
dd if=/dev/zero of=/dev/sda bs=64k count=16 2>/dev/null && echo SDA-WRITE-OK
xvbench rr server --port 7780 --duration 120'
vm start --name dev1 --disk "$XV_RUN/v.raw,size=16M" --disk "$XV_RUN/i.raw,if=ide,size=8M" \
        --net "user,fwd=tcp:$port:7780" --cmd "$gcmd" >/dev/null
xv_on_exit "vm stop-all"
vm wait dev1 --timeout 240
assert_eq 16777216 "$(stat -c %s "$XV_RUN/v.raw")" "virtio disk created with its size"
assert_le "$(stat -c %b "$XV_RUN/i.raw")" 64 "IDE disk created sparse"
console_has dev1 VDA-WRITE-OK 60 || fail "the guest could not write its virtio disk"
console_has dev1 SDA-WRITE-OK 60 || fail "the guest could not write its IDE disk"
c=$(tr -d '\r' < "$(vm console dev1)")
grep -q ' vda$' <<< "$c" || fail "no vda in the guest's /proc/partitions"
grep -q ' sda$' <<< "$c" || fail "no sda in the guest's /proc/partitions"
grep -q 'inet 10.0.2.15/24' <<< "$c" || fail "eth0 has no 10.0.2.15/24"
out=$("$XV_BUILD/bench/xvbench" rr client --host 127.0.0.1 --port "$port" --duration 2 \
        --connect-timeout 60 --json 2>&1) || fail "rr client through the forwarded port failed: $out"
assert_match '"transactions": *[1-9]' "$out" "rr transactions through --net"
vm stop dev1
pass
