#!/bin/bash
# Build the Debian packages (make deb), install xvsched_*.deb on this machine
# with apt-get, run the installed xvsched, check the units, purge it again.
# Needs root and Debian 12.  Not part of `make check` (slow, changes /usr);
# docs/packaging.md has its figures.
#
#   scripts/check-deb.sh                 # build into build-deb/, then check
#   DEB_OUT=DIR scripts/check-deb.sh --no-build   # check the .debs in DIR
#
# It refuses to run when an xvsched package or a /usr/bin/xvsched is
# already there (it would replace and then purge someone's install).  The
# agent's package is not installed (it is for guests): its unit and udev
# rule are checked in an unpacked copy.
set -euo pipefail

cd "$(dirname "$0")/.."
DEB_OUT=${DEB_OUT:-build-deb}
say() { printf 'check-deb: %s\n' "$*"; }
die() { printf 'check-deb: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (apt-get install)"
if [ "${1:-}" != --no-build ]; then
        make deb DEB_OUT="$DEB_OUT"
fi
./scripts/install-deps.sh deb
host_deb=$(find "$DEB_OUT" -maxdepth 1 -name 'xvsched_*_*.deb' | head -n1)
agent_deb=$(find "$DEB_OUT" -maxdepth 1 -name 'xvsched-agent_*_*.deb' | head -n1)
if [ -z "$host_deb" ] || [ -z "$agent_deb" ]; then
        die "no xvsched_*.deb and xvsched-agent_*.deb in $DEB_OUT"
fi
host_deb=$(realpath "$host_deb")   # apt-get wants a path with a slash

status=$(dpkg-query -W -f='${Status}' xvsched 2>/dev/null || true)
case "$status" in
""|"unknown ok not-installed"|"deinstall ok config-files") ;;
*) die "the xvsched package is installed already ($status): not touching it" ;;
esac
[ ! -e /usr/bin/xvsched ] || die "/usr/bin/xvsched exists and is no package's: not touching it"

tmp=$(mktemp -d /tmp/check-deb.XXXXXX)
installed=0
cleanup() {
        if [ "$installed" = 1 ]; then
                say "apt-get purge xvsched"
                DEBIAN_FRONTEND=noninteractive apt-get purge -y -q xvsched >"$tmp/purge.log" 2>&1 ||
                        { cat "$tmp/purge.log" >&2; echo "check-deb: FAIL: purge" >&2; }
        fi
        [ -n "${sleeper:-}" ] && kill "$sleeper" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT

# 1. install: no recommends (libvirt-daemon-system would start a daemon)
say "apt-get install $host_deb"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$host_deb" >"$tmp/install.log" 2>&1 ||
        { cat "$tmp/install.log" >&2; die "apt-get install"; }
for f in /usr/bin/xvsched /lib/systemd/system/xvsched.service /etc/xvsched/xvsched.conf.example \
         /usr/share/man/man1/xvsched.1.gz /usr/share/man/man5/xvsched.conf.5.gz \
         /usr/share/bash-completion/completions/xvsched; do
        [ -e "$f" ] || die "$f not installed"
done
say "installed: $(dpkg-query -W -f='${Package} ${Version} ${Installed-Size} KiB' xvsched)"

# 2. it runs
v=$(/usr/bin/xvsched --version) || die "xvsched --version"
say "xvsched --version: $v"
/usr/bin/xvsched list >"$tmp/list" 2>&1 || { cat "$tmp/list" >&2; die "xvsched list"; }
say "xvsched list: exit 0, $(wc -l <"$tmp/list") lines"
/usr/bin/xvsched check /etc/xvsched/xvsched.conf.example >/dev/null || die "xvsched check on the example"
say "xvsched check /etc/xvsched/xvsched.conf.example: ok"

# 3. the units, offline
systemd-analyze verify --man=no /lib/systemd/system/xvsched.service >"$tmp/verify" 2>&1 ||
        { cat "$tmp/verify" >&2; die "systemd-analyze verify xvsched.service"; }
[ ! -s "$tmp/verify" ] || { cat "$tmp/verify" >&2; die "systemd-analyze verify xvsched.service said something"; }
say "systemd-analyze verify xvsched.service: clean"
dpkg-deb -x "$agent_deb" "$tmp/agent"
[ -x "$tmp/agent/usr/bin/xvagent" ] || die "no usr/bin/xvagent in $agent_deb"
if file "$tmp/agent/usr/bin/xvagent" | grep -q 'statically linked'; then :; else die "xvagent is not static"; fi
# the unit as packaged, its binary where the package was unpacked
mkdir "$tmp/units"
sed "s|/usr/bin/xvagent|$tmp/agent/usr/bin/xvagent|" "$tmp/agent/lib/systemd/system/xvagent.service" \
        >"$tmp/units/xvagent.service"
systemd-analyze verify --man=no "$tmp/units/xvagent.service" >"$tmp/verify" 2>&1 ||
        { cat "$tmp/verify" >&2; die "systemd-analyze verify xvagent.service"; }
[ ! -s "$tmp/verify" ] || { cat "$tmp/verify" >&2; die "systemd-analyze verify xvagent.service said something"; }
say "systemd-analyze verify xvagent.service (unpacked agent package): clean"
udevadm verify --help >/dev/null 2>&1 && { udevadm verify "$tmp/agent/lib/udev/rules.d/60-xvagent.rules" ||
        die "udevadm verify 60-xvagent.rules"; }
grep -q 'ATTR{name}=="org.xvsched.agent.0".*SYSTEMD_WANTS.*xvagent.service' "$tmp/agent/lib/udev/rules.d/60-xvagent.rules" ||
        die "the udev rule does not start xvagent.service on org.xvsched.agent.0"

# 4. Type=notify: the installed daemon's messages, as systemd would get them
# (a dry run on a local domain: a sleeping process; nothing changes)
sleep 300 & sleeper=$!
printf '[daemon]\ninterval = 100ms\n\n[domain me]\n' >"$tmp/notify.conf"
mkdir -m 0700 "$tmp/state"
python3 - "$tmp" "$sleeper" <<'PY' || die "sd_notify protocol"
import os, signal, socket, subprocess, sys
tmp, pid = sys.argv[1], sys.argv[2]
path = tmp + "/notify.sock"
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(20)
base = ["/usr/bin/xvsched", "--state-dir=" + tmp + "/state", "-b", "local", "-l", "me=pid:" + pid]
d = subprocess.Popen(base + ["daemon", "run", "--dry-run", tmp + "/notify.conf"],
                     env=dict(os.environ, NOTIFY_SOCKET=path), stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
def expect(prefix):
    m = s.recv(4096).decode()
    if not m.startswith(prefix):
        d.kill()
        sys.exit("expected %r, got %r" % (prefix, m))
    return m
print("check-deb: start:", repr(expect("READY=1")))
subprocess.run(base + ["daemon", "reload"], check=True, stdout=subprocess.DEVNULL)
print("check-deb: reload:", repr(expect("RELOADING=1")), repr(expect("READY=1")))
d.send_signal(signal.SIGTERM)
print("check-deb: stop:", repr(expect("STOPPING=1")))
sys.exit(d.wait(20))
PY

# 5. purge: nothing left
installed=0
say "apt-get purge xvsched"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q xvsched >"$tmp/purge.log" 2>&1 ||
        { cat "$tmp/purge.log" >&2; die "apt-get purge"; }
for f in /usr/bin/xvsched /lib/systemd/system/xvsched.service /etc/xvsched \
         /etc/systemd/system/multi-user.target.wants/xvsched.service; do
        [ ! -e "$f" ] || die "$f left after purge"
done
say "purged: nothing left"
say "PASS"
