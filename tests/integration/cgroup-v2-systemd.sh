#!/bin/bash
# cgroup v2 as systemd runs it (issue 11 items 5 and 6): the stock Debian 12
# guest (tools/vm/mkdebian, profile min: systemd, unified hierarchy, root
# cgroup.subtree_control "memory pids") boots as a *host*, xvsched and its
# libraries arrive on a hot-plugged virtio disk, and tests/lib/cgroup-v2-guest.sh
# runs inside it on real services as local domains:
#   cpus=0 (thread affinity) on two spinning services, then weight 4:1 →
#   about 80/20 of CPU 0 (CPUWeight over D-Bus, cpu.weight 400/100),
#   cap=25 → cpu.max "25000 100000" and at most ~25 % of a CPU,
#   memory=16M → MemoryMax, memory.max, and a 50 MB hog in the group is
#   OOM-killed, mems=0 → AllowedMemoryNodes, cpuset.mems(.effective),
#   ioweight=500 → IOWeight, io.weight / io.bfq.weight,
#   a delegated service's subgroup (Delegate=yes) written directly with
#   cpu enabled in the service's own cgroup.subtree_control,
#   a process in a shared group (qemu-guest-agent's) moved into the
#   transient scope /xvsched.slice/xvsched-c.scope,
# and `reset --all` brings back every cgroup file, every cgroup.subtree_control
# on the way and every unit property exactly, the process to its group and
# the scope gone.  Bounds hold on a loaded host (the shares are the guest
# scheduler's, measured in guest time).  Skips when the Debian image is not
# built (make debian-image).
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd "${XV_QEMU:-qemu-system-x86_64}" qemu-img python3 mkfs.ext4 ldd
XV_DEBIAN=${XV_DEBIAN:-$XV_BUILD/debian/min}
for f in rootfs.img vmlinuz initrd.img; do
        [ -f "$XV_DEBIAN/$f" ] || skip "no Debian image in $XV_DEBIAN ($f missing; build it: make debian-image)"
done
xvsched=$XV_BUILD/src/cli/xvsched
[ -x "$xvsched" ] || fail "no $xvsched (build first)"

# The payload: xvsched, the libraries it links (not glibc's own: the guest's
# glibc is bookworm's too), the guest script.
payload=$XV_TEST_DIR/payload
mkdir -p "$payload/lib"
cp "$xvsched" "$payload/xvsched"
cp "$XV_SRC/tests/lib/cgroup-v2-guest.sh" "$payload/"
ldd "$xvsched" | awk '$3 ~ /^\// { print $3 }' | while read -r l; do
        case "$(basename "$l")" in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|ld-linux*) ;;
        *) cp -L "$l" "$payload/lib/" ;;
        esac
done
mkfs.ext4 -q -F -L xvpayload -d "$payload" "$XV_TEST_DIR/payload.img" 96M ||
        fail "mkfs.ext4 -d of the payload failed"

t0=$(date +%s)
pid=$(vm start --name cgv2 --debian "$XV_DEBIAN" --cpus 2)
pid_alive "$pid" || fail "QEMU pid $pid is not running"
vm wait cgv2 --timeout 400
log "guest up in $(( $(date +%s) - t0 )) s ($(cat "$XV_RUN/cgv2.accel"))"

# Hot-plug the payload as a second virtio disk, read-only.
out=$(vm qmp cgv2 "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"raw\",\"node-name\":\"xvpl\",\"read-only\":true,\"file\":{\"driver\":\"file\",\"filename\":\"$XV_TEST_DIR/payload.img\",\"read-only\":true}}}")
assert_match '"return"' "$out" "blockdev-add of the payload"
out=$(vm qmp cgv2 '{"execute":"device_add","arguments":{"driver":"virtio-blk-pci","drive":"xvpl","id":"xvpl0"}}')
assert_match '"return"' "$out" "device_add of the payload"
vm exec cgv2 --timeout 60 -- /bin/sh -c \
        'for i in $(seq 300); do [ -b /dev/disk/by-label/xvpayload ] && break; sleep 0.1; done; mkdir -p /mnt/xv && mount -o ro /dev/disk/by-label/xvpayload /mnt/xv' ||
        fail "the payload disk did not appear in the guest"

rc=0
out=$(vm exec cgv2 --timeout 500 -- /bin/bash /mnt/xv/cgroup-v2-guest.sh "${XV_CGV2_SECONDS:-8}" 2>&1) || rc=$?
printf '%s\n' "$out" | grep -E '^(FIGURE|FAIL)' | sed "s/^/$XV_TEST_NAME: guest: /"
if [ "$rc" != 0 ] || ! grep -q '^DONE$' <<< "$out"; then
        printf '%s\n' "$out" | tail -n 30 >&2
        fail "the guest script failed (exit $rc)"
fi
pass "weight, cap, memory, mems, ioweight, delegated subtree and transient scope on systemd's v2, all restored"
