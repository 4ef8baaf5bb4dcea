#!/usr/bin/env python3
"""Small helpers for tools/vm/vm: talk QMP, wait for a line on a console file.

  vmctl.py qmp SOCKET JSON [--timeout S]
      Connect, negotiate capabilities, send one command, print its reply as
      one line of JSON.  Exit 0 on "return", 1 on "error", 2 on I/O failure.
  vmctl.py wait-console FILE REGEX [--timeout S] [--pid PID]
      Wait until a line of FILE matches REGEX; print that line.  Exit 0 when
      found, 3 when PID exited first, 124 on timeout.
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
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
