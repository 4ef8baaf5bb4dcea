# shellcheck shell=bash
# Sourced by integration tests:  . "$(dirname "$0")/../lib/common.sh"
#
# Gives: XV_SRC, XV_BUILD, XV_TEST_DIR (a per-test scratch dir), `vm` (tools/vm/vm
# with a per-test run dir), require_root, require_image, require_cmd, skip,
# fail, assert_eq, assert_match, assert_le, pass, libvirtd_up, thread_cpu_ns,
# proc_cpu_ns, and an EXIT trap that stops every VM the test started and
# libvirtd/virtlogd if the test started them.  Exit codes: 0 pass, 77 skip,
# 1 fail.
set -euo pipefail

XV_TEST_NAME=${XV_TEST_NAME:-$(basename "$0" .sh)}
XV_SRC=${XV_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
XV_BUILD=${XV_BUILD:-$XV_SRC/build}
export XV_SRC XV_BUILD
XV_IMAGE=${XV_IMAGE:-$XV_BUILD/guest}
export XV_IMAGE

_xv_note() { echo "$XV_TEST_NAME: $*" >&2; }
log() { echo "$XV_TEST_NAME: $*"; }

skip() {
        echo "SKIP: $XV_TEST_NAME: $*"
        exit 77
}

fail() {
        echo "FAIL: $XV_TEST_NAME: $*" >&2
        exit 1
}

pass() {
        echo "PASS: $XV_TEST_NAME${1:+: $*}"
        exit 0
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
        [ "$1" = "$2" ] || fail "${3:-value}: expected '$1', got '$2'"
}

# assert_match REGEX STRING [WHAT]   (extended regex, grep -E)
assert_match() {
        # grep reads all (not -q): a -q that stops early would SIGPIPE a long
        # printf, and pipefail would call a match a mismatch
        printf '%s\n' "$2" | grep -E -- "$1" >/dev/null || fail "${3:-value}: '$2' does not match /$1/"
}

# assert_le A B [WHAT]   (integers)
assert_le() {
        [ "$1" -le "$2" ] || fail "${3:-value}: $1 > $2"
}

require_root() {
        [ "$(id -u)" = 0 ] || skip "needs root"
}

require_cmd() {
        local c
        for c in "$@"; do
                command -v "$c" >/dev/null || skip "'$c' is not installed (scripts/install-deps.sh)"
        done
}

# The guest image: build it when missing (cached; needs the network only for
# the first download of the kernel package).
require_image() {
        if [ ! -f "$XV_IMAGE/vmlinuz" ] || [ ! -f "$XV_IMAGE/initrd.img" ]; then
                "$XV_SRC/tools/vm/mkimage" --out "$XV_IMAGE" ||
                        fail "cannot build the guest image in $XV_IMAGE"
        fi
}

# Requirements for booting guests: root, QEMU, python3 and an image.
require_vm() {
        require_root
        require_cmd "${XV_QEMU:-qemu-system-x86_64}" python3 base64
        require_image
}

XV_TEST_DIR=$(mktemp -d "/tmp/xvtest-$XV_TEST_NAME.XXXXXX")
XV_RUN=$XV_TEST_DIR/vm
export XV_RUN
mkdir -p "$XV_RUN"
chmod 0755 "$XV_TEST_DIR" "$XV_RUN"

vm() { "$XV_SRC/tools/vm/vm" --dir "$XV_RUN" "$@"; }

# Start libvirtd + virtlogd for this test unless they run already; the EXIT
# trap stops only what this started.
libvirtd_up() {
        require_root
        require_cmd libvirtd virtlogd virsh
        vm libvirtd up || fail "cannot start libvirtd (see /var/log/libvirt/libvirtd.log)"
}

# pid_alive PID: the process exists and is not a zombie (a daemonized QEMU
# that exited stays a zombie until whoever adopted it reaps it).
pid_alive() {
        local st
        st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
        [ -n "$st" ] && [ "$st" != Z ]
}

# wait_gone PID [SECONDS]: wait until pid_alive is false; fail after SECONDS.
wait_gone() {
        local i
        for ((i = 0; i < ${2:-5} * 10; i++)); do
                pid_alive "$1" || return 0
                sleep 0.1
        done
        return 1
}

# console_has NAME REGEX [SECONDS]: wait for a console line (CR stripped:
# the serial console ends lines with CRLF) matching REGEX (grep -E).
console_has() {
        local c i
        c=$(vm console "$1") || return 1
        for ((i = 0; ; i++)); do
                tr -d '\r' < "$c" | grep -qE -- "$2" && return 0
                [ "$i" -lt $((${3:-10} * 10)) ] || return 1
                sleep 0.1
        done
}

# Seconds of CPU time as nanoseconds, from utime+stime in clock ticks.
_xv_clk_tck=$(getconf CLK_TCK)
_xv_stat_cpu_ns() {
        local stat
        stat=$(cat "$1" 2>/dev/null) || { echo "no such process or thread: $1" >&2; return 1; }
        # Fields after "comm)": state is $1, utime $12, stime $13.
        awk -v tck="$_xv_clk_tck" '{ sub(/^.*\) /, ""); printf "%.0f\n", ($12 + $13) * 1e9 / tck }' <<<"$stat"
}

# thread_cpu_ns PID TID: CPU time of one thread in ns.
thread_cpu_ns() { _xv_stat_cpu_ns "/proc/$1/task/$2/stat"; }

# proc_cpu_ns PID: CPU time of a whole process (all threads) in ns.
proc_cpu_ns() { _xv_stat_cpu_ns "/proc/$1/stat"; }

# Commands run first on exit (e.g. stop a daemon the test started, so it
# restores what it changed while the guests still exist): xv_on_exit CMD.
_xv_exit_hooks=()
xv_on_exit() { _xv_exit_hooks+=("$1"); }

# Keep the scratch dir with XV_KEEP=1 (consoles help when a test fails).
_xv_cleanup() {
        local rc=$?
        set +e
        trap - EXIT INT TERM
        local h
        for h in "${_xv_exit_hooks[@]}"; do
                eval "$h"
        done
        # A test that failed midway leaves what it set in its own state
        # file: restore it while the guests still exist, so no test leaves
        # groups or thread settings behind on the host.
        case ${XVSCHED_STATE_DIR:-} in
        "$XV_TEST_DIR"/*)
                if [ -s "$XVSCHED_STATE_DIR/state.json" ] && [ -x "$XV_BUILD/src/cli/xvsched" ]; then
                        "$XV_BUILD/src/cli/xvsched" reset --all >/dev/null 2>&1 ||
                                _xv_note "warning: reset --all at exit failed"
                fi ;;
        esac
        if [ -d "$XV_RUN" ]; then
                "$XV_SRC/tools/vm/vm" --dir "$XV_RUN" stop-all || _xv_note "warning: stop-all failed"
                "$XV_SRC/tools/vm/vm" --dir "$XV_RUN" libvirtd down || _xv_note "warning: libvirtd down failed"
        fi
        if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
                local c
                # The daemon's own account of what it did (policy tests).
                for c in "$XV_TEST_DIR"/daemon*.log; do
                        [ -f "$c" ] || continue
                        echo "--- $c (last 30 lines) ---" >&2
                        tail -n 30 "$c" >&2
                done
                for c in "$XV_RUN"/*.console; do
                        [ -f "$c" ] || continue
                        echo "--- $c (last 20 lines) ---" >&2
                        tail -n 20 "$c" >&2
                done
        fi
        if [ "${XV_KEEP:-0}" = 1 ]; then
                _xv_note "kept $XV_TEST_DIR"
        else
                rm -rf "$XV_TEST_DIR"
        fi
        exit "$rc"
}
trap _xv_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
