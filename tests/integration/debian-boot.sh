#!/bin/bash
# A stock Debian 12 guest (tools/vm/mkdebian, profile min) boots from its
# cached image on a per-VM overlay, prints its console marker with the
# hostname from the kernel command line, answers qemu-guest-agent on its own
# socket, and runs commands through guest-exec: the guest's own `ps -eL` shows
# systemd as PID 1 and a plausible number of threads (matching /proc).  The
# cached rootfs.img is left untouched.  Skips when the image is not built and
# cannot be (no mmdebstrap, no network to the Debian mirror).
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd "${XV_QEMU:-qemu-system-x86_64}" qemu-img python3
XV_DEBIAN=${XV_DEBIAN:-$XV_BUILD/debian/min}
mkdebian=$XV_SRC/tools/vm/mkdebian

# Bad input: one clear line, non-zero exit.
out=$(vm start --name bad --debian "$XV_TEST_DIR/nothing" 2>&1) && fail "--debian of a missing dir succeeded"
assert_match "^vm: error: no Debian image dir" "$out" "--debian missing dir"
out=$(vm start --name bad --debian "$XV_DEBIAN" --cmd true 2>&1) && fail "--debian with --cmd succeeded"
assert_match "^vm: error: .*--cmd" "$out" "--debian with --cmd"
out=$("$mkdebian" --out "$XV_TEST_DIR/x" --profile huge 2>&1) && fail "mkdebian --profile huge succeeded"
assert_match "^mkdebian: error: --profile must be min or lab" "$out" "mkdebian bad profile"

# The image: built by `make debian-image` (cached); build it here if needed.
mirror_host() {
        local m=${XV_DEBIAN_MIRROR:-http://deb.debian.org/debian}
        m=${m#*://}
        echo "${m%%/*}"
}
t0=$(date +%s)
if ! "$mkdebian" --out "$XV_DEBIAN" > "$XV_TEST_DIR/mkdebian.log" 2>&1; then
        command -v mmdebstrap >/dev/null ||
                skip "no Debian image in $XV_DEBIAN and mmdebstrap is not installed (make deps; make debian-image)"
        host=$(mirror_host)
        if ! timeout 10 bash -c "exec 3<>/dev/tcp/$host/80" 2>/dev/null; then
                skip "no Debian image in $XV_DEBIAN and $host cannot be reached (make debian-image where there is network)"
        fi
        tail -n 20 "$XV_TEST_DIR/mkdebian.log" >&2
        fail "mkdebian --out $XV_DEBIAN failed with the mirror reachable"
fi
log "$(tail -n 1 "$XV_TEST_DIR/mkdebian.log") in $(( $(date +%s) - t0 )) s"
img_mtime=$(stat -c %Y "$XV_DEBIAN/rootfs.img")

t0=$(date +%s)
pid=$(vm start --name deb1 --debian "$XV_DEBIAN")
pid_alive "$pid" || fail "QEMU pid $pid is not running"
assert_eq debian "$(cat "$XV_RUN/deb1.guest")" "guest kind"
[ -S "$XV_RUN/deb1.qga" ] || fail "no QGA socket at $XV_RUN/deb1.qga"
vm wait deb1 --timeout 400
log "QGA answers $(( $(date +%s) - t0 )) s after start ($(cat "$XV_RUN/deb1.accel"))"
console_has deb1 'XV-READY debian deb1 ' 120 || fail "no console marker 'XV-READY debian deb1' (hostname from systemd.hostname=)"

out=$(vm qga deb1 '{"execute":"guest-get-host-name"}')
assert_match '"host-name":"deb1"' "$out" "guest-get-host-name"

# The guest's own view of its threads, through guest-exec + guest-exec-status.
ps_out=$(vm exec deb1 --timeout 60 -- /bin/ps -eL -o pid=,lwp=,comm=) || fail "guest-exec of ps -eL failed"
pid1=$(awk '$1 == 1 && $2 == 1 { print $3 }' <<< "$ps_out")
assert_eq systemd "$pid1" "PID 1 in the guest's ps -eL"
nthreads=$(grep -c . <<< "$ps_out")
# systemd, journald, udevd, dbus, qemu-ga, getty, kthreadd and its kernel
# threads: dozens; far from thousands.
[ "$nthreads" -ge 30 ] && [ "$nthreads" -le 3000 ] || fail "implausible thread count $nthreads in the guest's ps -eL"
grep -qE '^ *[0-9]+ +[0-9]+ qemu-ga$' <<< "$ps_out" || fail "no qemu-ga in the guest's ps -eL"
grep -qE '^ *2 +2 kthreadd$' <<< "$ps_out" || fail "no kthreadd (pid 2) in the guest's ps -eL"
# The same count from /proc (threads come and go: close, not equal).
nproc_t=$(vm exec deb1 -- /bin/sh -c 'ls -d /proc/[0-9]*/task/[0-9]* | wc -l')
diff=$(( nproc_t > nthreads ? nproc_t - nthreads : nthreads - nproc_t ))
assert_le "$diff" $(( nthreads / 5 + 5 )) "ps -eL ($nthreads) vs /proc tasks ($nproc_t)"
log "guest: systemd is PID 1, $nthreads threads ($nproc_t in /proc)"

# Exit status and stderr travel back; a missing program is the agent's error.
rc=0; vm exec deb1 -- /bin/sh -c 'echo oops >&2; exit 5' 2>"$XV_TEST_DIR/err" || rc=$?
assert_eq 5 "$rc" "exit status through guest-exec"
assert_eq oops "$(cat "$XV_TEST_DIR/err")" "stderr through guest-exec"
rc=0; out=$(vm exec deb1 -- /no/such/program 2>&1) || rc=$?
assert_eq 2 "$rc" "guest-exec of a missing program"
assert_match '^vmctl: error: guest-exec' "$out" "guest-exec of a missing program"

# A write in the guest lands in its overlay, not in the cached image.
vm exec deb1 -- /bin/sh -c 'echo scratch > /root/xv-scratch && sync' >/dev/null
vm stop deb1
[ ! -e "$XV_RUN/deb1.disk.qcow2" ] || fail "the overlay was not removed by vm stop"
assert_eq "$img_mtime" "$(stat -c %Y "$XV_DEBIAN/rootfs.img")" "rootfs.img mtime (image must stay pristine)"
pass "Debian guest booted, QGA ready; systemd PID 1, $nthreads threads"
