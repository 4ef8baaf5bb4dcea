#!/bin/sh
# Install the Debian packages xvsched needs, only those that are missing.
# Idempotent: a second run does nothing and needs no network.
set -eu

PACKAGES="
build-essential pkg-config meson ninja-build
libvirt-dev libxml2-dev libjson-c-dev libbpf-dev libelf-dev zlib1g-dev libcmocka-dev libinih-dev
libsystemd-dev libmicrohttpd-dev
libncurses-dev tmux
qemu-system-x86 qemu-utils
libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
busybox-static cpio zstd xz-utils kmod
qemu-guest-agent
mmdebstrap e2fsprogs
rt-tests stress-ng fio gnuplot-nox
clang libclang-rt-14-dev
python3
"

# `make deb` and scripts/check-deb.sh only (`install-deps.sh deb`): the
# Debian tools, and systemd for systemd-analyze verify.
DEB_PACKAGES="
dpkg-dev debhelper lintian systemd
"
if [ "${1:-}" = deb ]; then
        PACKAGES="$PACKAGES $DEB_PACKAGES"
fi

missing=""
for p in $PACKAGES; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$status" in
        "install ok installed") ;;
        *) missing="$missing $p" ;;
        esac
done

if [ -z "$missing" ]; then
        exit 0
fi
if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing packages:$missing (run as root to install them)" >&2
        exit 1
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
