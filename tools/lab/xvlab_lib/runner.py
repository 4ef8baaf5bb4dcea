# SPDX-License-Identifier: GPL-2.0-or-later
"""The side effects of a lab run: guests (tools/vm/vm, in a private run
dir), host levers (xvsched set/reset and xvsched run, in a private state
dir), host load processes, CPU samplers; and their teardown, which runs on
every exit path: normal end, an error, Ctrl-C, SIGTERM."""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
CONSOLE_MAX = 256 << 20          # a guest's console is read at most this far
JSON_MAX = 4 << 20               # one report cut out of a console


class LabError(Exception):
    """One line for the user: what failed and why."""


class Terminated(BaseException):
    """SIGTERM: unwinds like Ctrl-C so that teardown runs."""


def _on_term(signum, frame):
    raise Terminated()


def proc_cpu_s(pid):
    """utime+stime of a process in seconds, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return None
    fields = st[st.rfind(")") + 2:].split()
    if len(fields) < 13 or fields[0] == "Z":
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Sampler(threading.Thread):
    """Samples each pid's CPU time every `period` s: the % of one core it
    used in each interval (paper 000's Figures 1-2)."""

    def __init__(self, pids, period=0.5):
        super().__init__(daemon=True)
        self.pids = dict(pids)            # name -> pid
        self.period = period
        self.t = []
        self.cpu = {n: [] for n in self.pids}
        self.total = {n: 0.0 for n in self.pids}
        self.end = {n: None for n in self.pids}   # seconds when it exited
        self._stop_ev = threading.Event()
        self.t0 = time.monotonic()

    def run(self):
        last = {n: proc_cpu_s(p) or 0.0 for n, p in self.pids.items()}
        tl = self.t0
        while not self._stop_ev.wait(self.period):
            now = time.monotonic()
            dt = now - tl
            tl = now
            alive = False
            self.t.append(round(now - self.t0, 3))
            for n, p in self.pids.items():
                c = proc_cpu_s(p)
                if c is None:
                    if self.end[n] is None:
                        self.end[n] = now - self.t0
                    self.cpu[n].append(0.0)
                    continue
                alive = True
                self.cpu[n].append(round(max(c - last[n], 0.0) / dt * 100.0, 2))
                self.total[n] += max(c - last[n], 0.0)
                last[n] = c
            if not alive:
                break

    def stop(self):
        self._stop_ev.set()
        self.join(timeout=5)

    def cpu_between(self, t0, t1):
        """CPU seconds of each pid in the sample intervals that end after
        t0 and no later than t1 (seconds since the start)."""
        out = {}
        for n, vals in self.cpu.items():
            s = 0.0
            prev = 0.0
            for t, v in zip(self.t, vals):
                if t > t1:
                    break
                if t > t0:
                    s += v / 100.0 * (t - prev)
                prev = t
            out[n] = s
        return out


class Lab:
    """One lab run: everything it starts is recorded and torn down by
    close(), in reverse order: daemons (they restore what they changed),
    host load, the journal of `xvsched set` (reset --all), the guests."""

    def __init__(self, src, build, image, debian, out, verbose=False):
        self.src = src
        self.build = build
        self.image = image
        self.debian = debian
        self.out = out
        self.verbose = verbose
        self.xvsched = os.path.join(build, "src", "cli", "xvsched")
        if not os.access(os.path.join(src, "tools", "vm", "vm"), os.X_OK):
            raise LabError(f"no tools/vm/vm under {src}: xvlab needs the source tree (--src or $XV_SRC)")
        if not os.access(self.xvsched, os.X_OK):
            raise LabError(f"{self.xvsched} is missing (build first: meson compile -C {build})")
        # Short paths: QEMU's and the daemon's unix sockets live here.
        self.tmp = tempfile.mkdtemp(prefix="xvlab-", dir="/tmp")
        os.chmod(self.tmp, 0o755)
        self.rundir = os.path.join(self.tmp, "vm")
        self.state = os.path.join(self.tmp, "state")
        os.makedirs(self.rundir)
        self.run_id = os.path.basename(self.tmp)[-4:].lower().replace("_", "x")
        self.procs = []              # (Popen, name): host loads, daemons
        self.daemon_states = []      # state dirs of daemons started here
        self.closed = False
        self._old = {}
        self.log_path = os.path.join(out, "lab.log")
        self._log = open(self.log_path, "a", encoding="utf-8")

    # --- logging -----------------------------------------------------------
    def log(self, msg):
        line = time.strftime("%H:%M:%S ") + msg
        self._log.write(line + "\n")
        self._log.flush()
        print("xvlab: " + msg, flush=True)

    def debug(self, msg):
        self._log.write(time.strftime("%H:%M:%S ") + msg + "\n")
        self._log.flush()
        if self.verbose:
            print("xvlab: " + msg, flush=True)

    # --- signals -----------------------------------------------------------
    def __enter__(self):
        self._old[signal.SIGTERM] = signal.signal(signal.SIGTERM, _on_term)
        self._old[signal.SIGHUP] = signal.signal(signal.SIGHUP, _on_term)
        return self

    def __exit__(self, *exc):
        # A second Ctrl-C during teardown must not cut it short.
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            self.close()
        finally:
            signal.signal(signal.SIGINT, old_int)
            for s, h in self._old.items():
                signal.signal(s, h)
        return False

    # --- commands ------------------------------------------------------------
    def sh(self, argv, timeout=120, check=True, env=None, input_text=None):
        self.debug("$ " + " ".join(argv))
        e = dict(os.environ)
        e.update(env or {})
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e,
                               input=input_text, errors="replace")
        except subprocess.TimeoutExpired:
            raise LabError(f"{os.path.basename(argv[0])} {' '.join(argv[1:3])}: no answer in {timeout} s") from None
        except OSError as e:
            # e.g. a build dir being rebuilt under us (ETXTBSY, EACCES)
            raise LabError(f"{argv[0]}: {e.strerror}") from None
        if r.stderr.strip():
            self.debug(r.stderr.strip()[-2000:])
        if check and r.returncode != 0:
            err = (r.stderr.strip() or r.stdout.strip() or f"exit status {r.returncode}").splitlines()[-1]
            raise LabError(f"{os.path.basename(argv[0])} {' '.join(argv[1:3])}: {err}")
        return r

    def vm(self, *args, timeout=120, check=True):
        env = {"XV_IMAGE": self.image, "XV_BUILD": self.build}
        return self.sh([os.path.join(self.src, "tools", "vm", "vm"), "--dir", self.rundir, *args],
                       timeout=timeout, check=check, env=env)

    def xv(self, *args, state=None, timeout=60, check=True):
        env = {"XVSCHED_STATE_DIR": state or self.state}
        return self.sh([self.xvsched, "-b", "qmp", *args], timeout=timeout, check=check, env=env)

    def name(self, tag):
        """A VM name unique on this host (xvsched matches QEMU names host-wide)."""
        return f"xl{self.run_id}{tag}"

    # --- guests --------------------------------------------------------------
    def start_busybox(self, tag, script, agent=False, stay=False, mem=None, cpus=1, extra=()):
        """extra: more `vm start` options (--disk ..., --net ...)."""
        n = self.name(tag)
        args = ["start", "--name", n, "--cpus", str(cpus), "--cmd", script, *extra]
        if agent:
            args.append("--agent")
        if stay:
            args.append("--stay")
        if mem:
            args += ["--mem", str(mem)]
        pid = int(self.vm(*args).stdout.strip().splitlines()[-1])
        self.debug(f"started {n} pid {pid}")
        return n, pid

    def start_debian(self, tag, cpus=1, mem=None):
        if not self.debian:
            raise LabError("no Debian lab image (tools/vm/mkdebian --profile lab --out DIR; xvlab --debian DIR)")
        n = self.name(tag)
        args = ["start", "--name", n, "--debian", self.debian, "--cpus", str(cpus)]
        if mem:
            args += ["--mem", str(mem)]
        pid = int(self.vm(*args).stdout.strip().splitlines()[-1])
        self.debug(f"started {n} (Debian) pid {pid}")
        return n, pid

    def qmp_all(self, names, command, timeout=20):
        """Send one QMP command to several guests as nearly at once as
        possible: every QMP socket is opened and negotiated first, then the
        command goes out on each back to back (tools/vm/vm qmp, one process
        per guest, would spread them over seconds on a loaded host)."""
        conns = []
        try:
            for n in names:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(timeout)
                s.connect(os.path.join(self.rundir, n + ".qmp"))
                f = s.makefile("rwb")
                conns.append((n, s, f))
                self._qmp_line(n, f)                      # greeting
                f.write(b'{"execute": "qmp_capabilities"}\n')
                f.flush()
                self._qmp_reply(n, f)
            msg = (json.dumps({"execute": command}) + "\n").encode()
            for n, s, f in conns:
                f.write(msg)
                f.flush()
            for n, s, f in conns:
                self._qmp_reply(n, f)
        except OSError as e:
            raise LabError(f"QMP {command}: {e}") from None
        finally:
            for n, s, f in conns:
                try:
                    f.close()
                    s.close()
                except OSError:
                    pass
        self.debug(f"QMP {command}: {' '.join(names)}")

    @staticmethod
    def _qmp_line(n, f):
        line = f.readline(1 << 20)
        if not line:
            raise LabError(f"{n}: QMP closed")
        try:
            return json.loads(line)
        except ValueError:
            raise LabError(f"{n}: QMP sent no JSON") from None

    def _qmp_reply(self, n, f):
        for _ in range(1000):
            m = self._qmp_line(n, f)
            if "return" in m:
                return m
            if "error" in m:
                raise LabError(f"{n}: QMP: {m['error'].get('desc', m['error'])}")
        raise LabError(f"{n}: QMP: no reply among 1000 events")

    def console_path(self, n):
        return os.path.join(self.rundir, n + ".console")

    def read_console(self, n):
        try:
            with open(self.console_path(n), "rb") as f:
                return f.read(CONSOLE_MAX).decode("utf-8", "replace").replace("\r", "")
        except OSError:
            return ""

    def wait_exit(self, n, timeout):
        r = self.vm("wait-exit", n, "--timeout", str(int(timeout)), timeout=timeout + 30, check=False)
        return r.returncode

    def reports(self, n):
        """The JSON reports a guest printed between XVLAB-BEGIN TAG and
        XVLAB-END TAG STATUS lines: {tag: (status, report or None)}."""
        text = self.read_console(n)
        out = {}
        for m in re.finditer(r"^XVLAB-BEGIN (\S+)\n(.*?)^XVLAB-END \1 (\d+)$", text, re.M | re.S):
            body = m.group(2)[:JSON_MAX]
            i = body.rfind("\n{")
            body = body[i + 1:] if i >= 0 else body
            try:
                rep = json.loads(body)
            except ValueError:
                rep = None
            out[m.group(1)] = (int(m.group(3)), rep)
        return out

    def keep_console(self, n, dest):
        try:
            with open(self.console_path(n), "rb") as f:
                data = f.read(1 << 20)
            with open(dest, "wb") as f:
                f.write(data)
        except OSError:
            pass

    def stop_all_guests(self):
        self.vm("stop-all", timeout=120, check=False)

    def end_config(self):
        """After each configuration: reset the levers, stop the guests;
        the second runs even if the first failed."""
        try:
            self.xv("reset", "--all", check=False)
        finally:
            self.stop_all_guests()

    def vm_exec(self, n, cmd, timeout=60, check=True):
        return self.vm("exec", n, "--timeout", str(int(timeout)), "--", "sh", "-c", cmd,
                       timeout=timeout + 30, check=check)

    # --- host load and daemons ----------------------------------------------
    def spawn(self, argv, name, env=None, log=None):
        e = dict(os.environ)
        e.update(env or {})
        fh = open(log, "ab") if log else subprocess.DEVNULL
        p = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, env=e, start_new_session=True)
        if log:
            fh.close()
        self.procs.append((p, name))
        self.debug(f"spawned {name} pid {p.pid}: {' '.join(argv)}")
        return p

    def end(self, p, timeout=30):
        """SIGTERM one process we started and wait for it (SIGKILL after timeout)."""
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.procs = [(q, n) for q, n in self.procs if q is not p]
        return p.returncode

    def daemon(self, conf_text, tag, xvsched=None, cpus=None):
        """xvsched run CONFIG in the background with its own state dir
        (xvsched: another binary, e.g. the "before" of a before/after;
        cpus: pinned there with taskset); returns (Popen, state dir)."""
        state = os.path.join(self.tmp, "state-" + tag)
        os.makedirs(state, exist_ok=True)
        conf = os.path.join(self.out, f"{tag}.conf")
        with open(conf, "w") as f:
            f.write(conf_text)
        self.xv("check", conf, state=state)
        self.daemon_states.append(state)
        sock = os.path.join(state, "control.sock")
        log = os.path.join(self.out, f"{tag}.daemon.log")
        # Discovery on a loaded host can miss a QEMU whose QMP socket is
        # slow to answer ("does not exist here"): try three times.
        for attempt in range(1, 4):
            pin = ["taskset", "-c", cpus] if cpus else []
            p = self.spawn(pin + [xvsched or self.xvsched, "-b", "qmp", "run", conf], "xvsched-run-" + tag,
                           env={"XVSCHED_STATE_DIR": state}, log=log)
            for _ in range(150):
                if os.path.exists(sock):
                    return p, state
                if p.poll() is not None:
                    break
                time.sleep(0.1)
            else:
                raise LabError(f"xvsched run ({tag}) did not come up in 15 s")
            self.end(p)
            self.log(f"xvsched run ({tag}) exited with {p.returncode} (attempt {attempt}/3): see {tag}.daemon.log")
            time.sleep(2)
        raise LabError(f"xvsched run ({tag}) exited with {p.returncode} three times: see {tag}.daemon.log")

    # --- teardown ------------------------------------------------------------
    def close(self):
        if self.closed:
            return
        self.closed = True
        for p, name in reversed(list(self.procs)):
            try:
                rc = self.end(p)
                self.debug(f"{name} ended ({rc})")
            except Exception as e:           # keep tearing down
                self.debug(f"ending {name}: {e}")
        # Every step runs whatever the one before did.
        for st in [self.state] + self.daemon_states:
            if os.path.exists(os.path.join(st, "state.json")):
                try:
                    self.xv("reset", "--all", state=st, timeout=60, check=False)
                except Exception as e:
                    self.log(f"warning: xvsched reset --all: {e}")
        try:
            self.stop_all_guests()
        except Exception as e:
            self.log(f"warning: vm stop-all: {e}")
        self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def b64(script):
    return base64.b64encode(script.encode()).decode()


def pause_when_ready(lab, names, timeout):
    """QMP stop each guest as soon as its console says XVLAB-READY (guests
    booted one by one are then resumed together)."""
    left = list(names)
    t_end = time.monotonic() + timeout
    while left:
        for n in list(left):
            if "\nXVLAB-READY" in lab.read_console(n)[-65536:]:
                lab.qmp_all([n], "stop")
                left.remove(n)
        if time.monotonic() > t_end:
            raise LabError(f"{', '.join(left)}: not booted in {timeout} s")
        time.sleep(0.2)


# A guest prints each report between these lines (Lab.reports).
GUEST_R = ('r(){ t=$1;shift;"$@" --quiet --json=/tmp/o.json;s=$?;'
           'echo;echo "XVLAB-BEGIN $t";cat /tmp/o.json;echo "XVLAB-END $t $s";rm -f /tmp/o.json;};')


def add_sample(results, config, rep, guest, metric, value):
    if value is None:
        return
    results["samples"].append({"config": config, "rep": rep, "guest": guest,
                               "metric": metric, "value": value})


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
