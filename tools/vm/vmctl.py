#!/usr/bin/env python3
"""Small helpers for tools/vm/vm: talk QMP, wait for a line on a console file.

  vmctl.py qmp SOCKET JSON [--timeout S]
      Connect, negotiate capabilities, send one command, print its reply as
      one line of JSON.  Exit 0 on "return", 1 on "error", 2 on I/O failure.
  vmctl.py wait-console FILE REGEX [--timeout S] [--pid PID]
      Wait until a line of FILE matches REGEX; print that line.  Exit 0 when
      found, 3 when PID exited first, 124 on timeout.
  vmctl.py qga SOCKET JSON [--timeout S]
      One qemu-guest-agent command on its socket (after guest-sync-delimited,
      which drops what an earlier client left), reply as one line of JSON.
      Exit 0 on "return", 1 on "error", 2 on I/O failure or timeout.
  vmctl.py qga-wait SOCKET [--timeout S] [--pid PID]
      Wait until the agent answers guest-ping.  Exit 0 when it does, 3 when
      PID exited first, 124 on timeout.
  vmctl.py qga-exec [--timeout S] SOCKET -- PROGRAM [ARG]...
      guest-exec with capture-output, then guest-exec-status until it exits;
      its stdout and stderr are copied to ours, and the exit status is ours
      (128+N for a signal).  Exit 2 when the agent fails, 124 on timeout.
"""

import argparse
import json
import os
import re
import socket
import sys
import time


def err(msg):
    print(f"vmctl: error: {msg}", file=sys.stderr)


class Qmp:
    def __init__(self, path, timeout):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self):
        """Next message that is not an asynchronous event."""
        while True:
            msg = self._line()
            if "event" not in msg:
                return msg

    def execute(self, cmd):
        self.sock.sendall(json.dumps(cmd).encode() + b"\n")
        return self.reply()


def cmd_qmp(args):
    try:
        cmd = json.loads(args.json)
    except json.JSONDecodeError as e:
        err(f"not valid JSON: {e}")
        return 2
    if not isinstance(cmd, dict) or "execute" not in cmd:
        err('the command must be an object with "execute"')
        return 2
    try:
        q = Qmp(args.socket, args.timeout)
        greeting = q._line()
        if "QMP" not in greeting:
            err(f"unexpected greeting: {greeting}")
            return 2
        r = q.execute({"execute": "qmp_capabilities"})
        if "return" not in r:
            err(f"qmp_capabilities failed: {r}")
            return 2
        r = q.execute(cmd)
    except (OSError, ConnectionError, ValueError) as e:
        err(f"{args.socket}: {e}")
        return 2
    print(json.dumps(r, separators=(",", ":")))
    return 0 if "return" in r else 1


class Qga:
    """qemu-guest-agent on a chardev socket: one client at a time; replies
    to a client that went away stay in the pipe, so every session starts
    with guest-sync-delimited and skips up to its 0xFF marker."""

    def __init__(self, path, timeout):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("agent socket closed")
        self.buf += chunk

    def _line(self):
        while b"\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.strip(b"\xff \r\t")
        return json.loads(line) if line else None

    def sync(self):
        ident = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        self.sock.sendall(b"\xff" + json.dumps(
            {"execute": "guest-sync-delimited",
             "arguments": {"id": ident}}).encode() + b"\n")
        while True:
            while b"\xff" not in self.buf:
                self._fill()
            self.buf = self.buf.split(b"\xff", 1)[1]
            while True:
                try:
                    msg = self._line()
                except ValueError:
                    break
                if msg is None:
                    continue
                if msg.get("return") == ident:
                    return
                break

    def execute(self, cmd):
        self.sock.sendall(json.dumps(cmd).encode() + b"\n")
        while True:
            msg = self._line()
            if msg is not None:
                return msg


def cmd_qga(args):
    try:
        cmd = json.loads(args.json)
    except json.JSONDecodeError as e:
        err(f"not valid JSON: {e}")
        return 2
    if not isinstance(cmd, dict) or "execute" not in cmd:
        err('the command must be an object with "execute"')
        return 2
    try:
        q = Qga(args.socket, args.timeout)
        q.sync()
        r = q.execute(cmd)
        q.close()
    except (OSError, ConnectionError, ValueError) as e:
        err(f"{args.socket}: {e}")
        return 2
    print(json.dumps(r, separators=(",", ":")))
    return 0 if "return" in r else 1


def cmd_qga_wait(args):
    deadline = time.monotonic() + args.timeout
    while True:
        if args.pid is not None and not pid_alive(args.pid):
            return 3
        left = deadline - time.monotonic()
        if left <= 0:
            return 124
        try:
            q = Qga(args.socket, min(2.0, max(left, 0.1)))
            try:
                q.sync()
                if "return" in q.execute({"execute": "guest-ping"}):
                    return 0
            finally:
                q.close()
        except (OSError, ConnectionError, ValueError):
            pass
        time.sleep(0.2)


def cmd_qga_exec(args):
    import base64
    argv = args.argv
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        err("qga-exec: no program given")
        return 2
    deadline = time.monotonic() + args.timeout
    try:
        q = Qga(args.socket, args.timeout)
        q.sync()
        r = q.execute({"execute": "guest-exec", "arguments": {
            "path": argv[0], "arg": argv[1:], "capture-output": True}})
        if "return" not in r:
            err(f"guest-exec: {r.get('error', r)}")
            return 2
        pid = r["return"]["pid"]
        while True:
            r = q.execute({"execute": "guest-exec-status",
                           "arguments": {"pid": pid}})
            if "return" not in r:
                err(f"guest-exec-status: {r.get('error', r)}")
                return 2
            st = r["return"]
            if st.get("exited"):
                break
            if time.monotonic() >= deadline:
                err(f"guest pid {pid} still running after {args.timeout}s")
                return 124
            time.sleep(0.1)
        q.close()
    except (OSError, ConnectionError, ValueError) as e:
        err(f"{args.socket}: {e}")
        return 2
    sys.stdout.buffer.write(base64.b64decode(st.get("out-data", "")))
    sys.stdout.flush()
    sys.stderr.buffer.write(base64.b64decode(st.get("err-data", "")))
    if st.get("out-truncated") or st.get("err-truncated"):
        err("the agent truncated the output")
    if "signal" in st:
        return 128 + st["signal"]
    return st.get("exitcode", 0)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited too.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmd_wait_console(args):
    rx = re.compile(args.regex)
    deadline = time.monotonic() + args.timeout
    pos = 0
    partial = b""
    while True:
        # Check liveness before reading so output written just before the
        # process exited is still seen.
        alive = args.pid is None or pid_alive(args.pid)
        try:
            with open(args.file, "rb") as f:
                f.seek(pos)
                data = f.read()
                pos += len(data)
        except FileNotFoundError:
            data = b""
        if data:
            lines = (partial + data).split(b"\n")
            partial = lines.pop()
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                if rx.search(line):
                    print(line)
                    return 0
        if not alive:
            line = partial.decode("utf-8", "replace").rstrip("\r")
            if partial and rx.search(line):
                print(line)
                return 0
            return 3
        if time.monotonic() >= deadline:
            return 124
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(prog="vmctl.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("qmp")
    p.add_argument("socket")
    p.add_argument("json")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(fn=cmd_qmp)
    p = sub.add_parser("wait-console")
    p.add_argument("file")
    p.add_argument("regex")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--pid", type=int)
    p.set_defaults(fn=cmd_wait_console)
    p = sub.add_parser("qga")
    p.add_argument("socket")
    p.add_argument("json")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(fn=cmd_qga)
    p = sub.add_parser("qga-wait")
    p.add_argument("socket")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--pid", type=int)
    p.set_defaults(fn=cmd_qga_wait)
    p = sub.add_parser("qga-exec")
    p.add_argument("socket")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_qga_exec)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
