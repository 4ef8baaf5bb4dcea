#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run xvbench briefly and check its JSON report.

    check-bench.py XVBENCH CASE        run CASE on this machine and check it
    check-bench.py --validate CASE F   only check the report in F (used for the
                                       reports that come back from a guest)
    check-bench.py --guest-commands    print "CASE<TAB>args" lines for in-guest runs

The checks: strictly valid JSON (no NaN/Infinity, no duplicate keys), the
envelope, the workload's fields, and plausible values (ordered percentiles,
histogram counts that add up, positive rates).
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

# Case -> xvbench arguments (without --json).  Tiny sizes and durations: the
# whole suite must stay short on a busy 2-core machine.
CASES = {
    "prime": ["prime", "--max", "20000", "--output", "/dev/null"],
    "regs": ["regs", "--loops", "100k", "--reps", "5"],
    "memcpy": ["memcpy", "--size", "256K", "--loops", "20", "--reps", "5"],
    "randread": ["randread", "--size", "64K", "--file-size", "4M", "--loops", "20", "--reps", "5"],
    "memstride": ["memstride", "--size", "16M", "--stride", "4K", "--reps", "3"],
    "stones": ["stones", "--duration", "0.3"],
    "timer-abs": ["timer", "--mode", "abs", "--interval", "1ms", "--loops", "100"],
    "timer-periodic": ["timer", "--mode", "periodic", "--interval", "1ms", "--loops", "100"],
    "timer-oneshot": ["timer", "--mode", "oneshot", "--interval", "1ms", "--loops", "100"],
    "rr": ["rr", "client", "--duration", "0.5", "--procs", "2"],
    "rr-ack": ["rr", "ack", "--duration", "0.5", "--procs", "4", "--interval", "5ms"],
}
for g in ("cpu", "vm", "io", "hdd", "kernel", "files", "udp"):
    CASES["load-" + g] = ["load", g, "--workers", "2", "--duration", "0.3", "--bytes", "4M"]
CASES["burst"] = ["burst", "--burst", "2ms,5ms", "--sleep", "5ms", "--loops", "5"]
CASES["burst-cputime"] = ["burst", "--burst", "2ms,5ms", "--sleep", "5ms", "--loops", "5", "--measure", "cputime"]


class CheckError(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise CheckError(msg)


def strict_loads(text):
    def no_constants(name):
        raise CheckError(f"non-standard JSON constant {name}")

    def no_duplicates(pairs):
        d = {}
        for k, v in pairs:
            need(k not in d, f"duplicate key {k!r}")
            d[k] = v
        return d

    try:
        return json.loads(text, parse_constant=no_constants, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        raise CheckError(f"invalid JSON: {e}")


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_envelope(d, workload):
    for k in ("xvbench_version", "workload", "command_line", "start_time_utc", "end_time_utc",
              "elapsed_ns", "system", "params", "results", "max_latency_exceeded", "max_latency_limit_ns"):
        need(k in d, f"envelope: missing {k}")
    need(d["workload"] == workload, f"workload is {d['workload']!r}, expected {workload!r}")
    need(isinstance(d["command_line"], list) and d["command_line"], "command_line not a list")
    need(d["start_time_utc"] <= d["end_time_utc"], "start after end")
    need(d["start_time_utc"].endswith("Z"), "start_time_utc not UTC")
    s = d["system"]
    for k in ("sysname", "release", "machine", "cpu_count", "clocksource", "tsc_hz"):
        need(k in s, f"system: missing {k}")
    need(s["cpu_count"] >= 1, "cpu_count < 1")
    need(s["tsc_hz"] is None or s["tsc_hz"] > 10_000_000, f"implausible tsc_hz {s['tsc_hz']}")


def check_latency(lat, name):
    need(lat["count"] > 0, f"{name}: no samples")
    keys = ["min_ns", "p50_ns", "p90_ns", "p99_ns", "p99_9_ns", "p99_99_ns", "max_ns"]
    vals = [lat[k] for k in keys]
    need(all(is_num(v) and v >= 0 for v in vals), f"{name}: bad values {vals}")
    need(vals == sorted(vals), f"{name}: percentiles out of order {dict(zip(keys, vals))}")
    need(lat["min_ns"] <= lat["mean_ns"] <= lat["max_ns"], f"{name}: mean outside [min, max]")
    need(lat["stddev_ns"] >= 0, f"{name}: negative stddev")
    h = lat["histogram"]
    need(h["bucket_width_ns"] == 1000, f"{name}: bucket width is not 1 us")
    total = h["overflow_count"]
    last = -1
    for lo, cnt in h["buckets_lower_us_count"]:
        need(lo > last and cnt > 0, f"{name}: histogram buckets not sparse/sorted")
        need(lo * 1000 < h["range_ns"], f"{name}: bucket beyond range")
        last = lo
        total += cnt
    need(total == lat["count"], f"{name}: histogram adds up to {total}, count is {lat['count']}")
    if lat["max_ns"] >= h["range_ns"]:
        need(h["overflow_count"] > 0, f"{name}: max beyond range but no overflow")


def check_reps(r, reps):
    need(r["repetitions_count"] == reps, f"{r['repetitions_count']} repetitions, expected {reps}")
    need(len(r["repetitions"]) == reps, "repetitions list length")
    for rep in r["repetitions"]:
        need(rep["cycles"] > 0 and rep["ns"] > 0, "zero-length repetition")
        need(rep["migrated"] == (rep["cpu_begin"] != rep["cpu_end"]), "migrated flag inconsistent")
    need(r["migrations"] == sum(1 for x in r["repetitions"] if x["migrated"]), "migrations count")
    s = r["rep"]
    need(s["n"] == reps and 0 < s["min_ns"] <= s["median_ns"] <= s["max_ns"], "rep summary")
    need(s["min_ns"] <= s["mean_ns"] <= s["max_ns"], "rep mean")


def check_report(case, d):
    argv = CASES[case] if case in CASES else None
    workload = case.split("-")[0] if case not in ("max-latency", "text") else "timer"
    check_envelope(d, workload)
    r, p = d["results"], d["params"]
    if workload == "prime":
        need(r["primes_found"] == 2262, f"primes up to 20000: {r['primes_found']}, expected 2262")
        need(r["largest_prime"] == 19997, "largest prime up to 20000 is 19997")
        need(r["real_ns"] > 0 and r["user_ns"] >= 0 and r["sys_ns"] >= 0, "times")
        need(r["integers_per_s"] > 0, "rate")
    elif workload in ("regs", "memcpy", "randread", "memstride"):
        reps = int(argv[argv.index("--reps") + 1]) if argv and "--reps" in argv else p["reps"]
        check_reps(r, reps)
        need(r["per_op"]["min_ns"] > 0, "per-op time")
        if workload == "regs":
            # An increment loop runs at most a few per cycle.
            need(r["per_op"]["median_ns"] < 100, "regs: implausibly slow increments")
        if workload in ("memcpy", "randread"):
            need(r["throughput"]["median_mib_per_s"] > 1, "throughput")
        if workload == "memstride":
            need(r["first_touch_ns"] > 0 and r["writes_per_pass"] == p["size_bytes"] // p["stride_bytes"],
                 "memstride writes")
    elif workload == "stones":
        need(r["iterations"] > 1000, "stones: too few iterations")
        need(r["stones_per_s"] > 0 and r["stones_per_cpu_s"] > 0, "stones rates")
        need(r["wall_ns"] >= p["duration_ns"], "stones ran shorter than asked")
    elif workload == "timer":
        mode = p["mode"]
        need(mode in ("abs", "periodic", "oneshot"), "mode")
        check_latency(r["latency"], "latency")
        want = p.get("loops")
        if want:
            need(r["wakeups"] == want + p["warmup"], f"wakeups {r['wakeups']} != loops + warmup")
            need(r["latency"]["count"] == want, f"latency count {r['latency']['count']} != loops {want}")
        need(r["latency"]["percentiles_exact"], "timer percentiles should be exact")
        # Loose: a busy 2-core machine, maybe a VM; still below a second.
        need(r["latency"]["p50_ns"] < 1_000_000_000, "timer: median latency over 1 s")
        if mode != "oneshot":
            w = r["wakeup_interval"]
            need(abs(w["mean_ns"] - p["interval_ns"]) < p["interval_ns"], "wake-up interval far from interval")
    elif workload == "rr":
        need(r["transactions"] > 0, "rr: no transactions")
        need(r["transactions_per_s"] > 0, "rr rate")
        need(sum(r["per_process_transactions"]) == r["transactions"], "per-process sum")
        need(len(r["per_process_transactions"]) == p["procs"], "per-process list")
        check_latency(r["latency"], "latency")
        need(r["latency"]["count"] == r["transactions"], "latency count != transactions")
        if p["role"] == "ack":
            need(p["response_bytes"] == 1, "ack replies are 1 byte")
    elif workload == "burst":
        need(p["measure"] in ("work", "cputime"), "burst: measure")
        need(isinstance(p["burst_ns"], list) and p["burst_ns"], "burst: burst_ns is not a list")
        need(len(r["bursts"]) == len(p["burst_ns"]), "burst: one entry per burst length")
        need(r["cycles"] == p["loops"] + p["warmup"], f"burst: {r['cycles']} cycles, loops + warmup expected")
        if p["measure"] == "work":
            need(r["calibration"]["units_per_ms"] > 0, "burst: calibration")
        for want, e in zip(p["burst_ns"], r["bursts"]):
            need(e["burst_ns"] == want, "burst: lengths out of order")
            need(e["count"] == p["loops"], f"burst: {e['count']} responses, {p['loops']} expected")
            check_latency(e["response"], "response")
            check_latency(e["wake_latency"], "wake_latency")
            need(e["response"]["count"] == e["count"], "burst: response count")
            need(0 < e["response_median_ns"] <= e["response_p95_ns"] <= e["response_max_ns"],
                 "burst: response median <= p95 <= max")
            need(e["response_max_ns"] == e["response"]["max_ns"], "burst: max differs from the distribution's")
            need(abs(e["slowdown_median"] - e["response_median_ns"] / want) < 1e-6 * e["slowdown_median"] + 1e-9,
                 "burst: slowdown is not response / burst")
            need(e["slowdown_median"] <= e["slowdown_p95"] <= e["slowdown_max"], "burst: slowdowns out of order")
            need(e["cpu_median_ns"] > 0, "burst: no CPU time")
            if p["measure"] == "cputime":
                # the thread's CPU clock advanced by the burst, and wall >= CPU
                need(e["cpu_median_ns"] >= want, "burst: cputime burst shorter than asked")
                need(e["response"]["min_ns"] >= want, "burst: a response shorter than its burst")
            else:
                need(e["work_units"] > 0, "burst: no work units")
    elif workload == "load":
        need(r["operations"] > 0, "load: no operations")
        need(sum(r["per_worker_operations"]) == r["operations"], "per-worker sum")
        need(len(r["per_worker_operations"]) == p["workers"], "per-worker list")
        need(r["operations_per_s"] > 0, "ops/s")
        need(r["cpu_ns"] == r["user_ns"] + r["sys_ns"], "cpu = user + sys")
        need(r["cpu_ns"] > 0, "workers consumed no CPU")
    return d


def run(cmd, timeout=30, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def run_case(xv, case, extra=()):
    with tempfile.TemporaryDirectory(prefix="xvbench-test.") as tmp:
        out = os.path.join(tmp, "report.json")
        env = dict(os.environ, TMPDIR=tmp)
        p = run([xv] + CASES[case] + list(extra) + ["--json=" + out], env=env)
        need(p.returncode == 0, f"exit {p.returncode}: {p.stderr.strip()}")
        need(p.stdout == "", f"unexpected stdout with --json=FILE: {p.stdout[:200]!r}")
        with open(out) as f:
            d = check_report(case, strict_loads(f.read()))
        need(os.listdir(tmp) == ["report.json"], f"left files behind: {os.listdir(tmp)}")
        return d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def case_rr(xv, case):
    port = str(free_port())
    with tempfile.TemporaryDirectory(prefix="xvbench-test.") as tmp:
        sjson = os.path.join(tmp, "server.json")
        srv = subprocess.Popen([xv, "rr", "server", "--host", "127.0.0.1", "--port", port,
                                "--duration", "20", "--json=" + sjson],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            d = run_case(xv, case, ["--port", port])
        finally:
            srv.terminate()
            _, err = srv.communicate(timeout=10)
        need(srv.returncode == 0, f"server exit {srv.returncode}: {err.strip()}")
        with open(sjson) as f:
            s = strict_loads(f.read())
        check_envelope(s, "rr")
        need(s["results"]["connections"] == d["params"]["procs"], "server saw a different number of connections")
        # Warm-up transactions are served but not counted by the client.
        need(s["results"]["transactions"] >= d["results"]["transactions"], "server served fewer transactions")


def case_max_latency(xv):
    base = [xv, "timer", "--interval", "1ms", "--loops", "20"]
    p = run(base + ["--max-latency", "1ns", "--json"])
    need(p.returncode == 3, f"--max-latency 1ns: exit {p.returncode}, expected 3")
    d = strict_loads(p.stdout)
    need(d["max_latency_exceeded"] is True and d["max_latency_limit_ns"] == 1, "exceeded flag/limit")
    p = run(base + ["--max-latency", "10s", "--json"])
    need(p.returncode == 0, f"--max-latency 10s: exit {p.returncode}")
    need(strict_loads(p.stdout)["max_latency_exceeded"] is False, "exceeded flag should be false")


def case_text(xv):
    p = run([xv, "timer", "--interval", "1ms", "--loops", "10"])
    need(p.returncode == 0 and "latency: 10 samples" in p.stdout and "p99.9" in p.stdout,
         f"text report: {p.stdout!r}")
    p = run([xv, "help"])
    need(p.returncode == 0, "help")
    for w in ("prime", "regs", "memcpy", "randread", "timer", "rr", "stones", "memstride", "load", "burst"):
        need(w in p.stdout, f"help does not list {w}")
        q = run([xv, "help", w])
        need(q.returncode == 0 and q.stdout.startswith("Usage: xvbench " + w), f"help {w}")
        q = run([xv, w, "--help"])
        need(q.returncode == 0 and q.stdout.startswith("Usage: xvbench " + w), f"{w} --help")
    p = run([xv, "--version"])
    need(p.returncode == 0 and p.stdout.startswith("xvbench "), "--version")


def case_bad_input(xv):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = str(busy.getsockname()[1])
        closed_port = str(free_port())
        cases = [
            (["nosuch"], 2),
            (["help", "nosuch"], 2),
            (["timer", "--bogus"], 2),
            (["timer", "-x"], 2),
            (["timer", "--loops"], 2),
            (["timer", "--mode", "weird"], 2),
            (["timer", "--interval", "10parsecs"], 2),
            (["timer", "--loops", "5", "--duration", "1"], 2),
            (["timer", "extra"], 2),
            (["memcpy", "--size", "4Q"], 2),
            (["memcpy", "--size", "1.5M"], 2),
            (["memstride", "--stride", "4X"], 2),
            (["regs", "--loops", "0"], 2),
            (["regs", "--loops", "lots"], 2),
            (["load"], 2),
            (["load", "bogus"], 2),
            (["load", "cpu", "--bytes", "12Z"], 2),
            (["rr"], 2),
            (["rr", "sideways"], 2),
            (["rr", "client", "--host", "no.such.name"], 2),
            (["rr", "server", "--port", "70000"], 2),
            (["prime", "--json"], 2),
            (["stones", "--duration", "0.1", "--json=/nonexistent-dir/out.json"], 1),
            (["prime", "--max", "10", "--output", "/nonexistent-dir/primes"], 1),
            (["randread", "--file", "/nonexistent-dir/data"], 1),
            (["rr", "server", "--host", "127.0.0.1", "--port", busy_port, "--duration", "1"], 1),
            (["rr", "client", "--port", closed_port, "--duration", "0.2", "--connect-timeout", "0.2"], 1),
            (["load", "files", "--dir", "/nonexistent-dir", "--duration", "0.1"], 1),
            (["burst", "--burst", "5ms,,6ms"], 2),
            (["burst", "--burst", "0"], 2),
            (["burst", "--burst", "11s"], 2),
            (["burst", "--burst", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"], 2),
            (["burst", "--measure", "wall"], 2),
            (["burst", "--loops", "3", "--duration", "1"], 2),
            (["burst", "--sleep", "2h"], 2),
        ]
        failures = []
        for args, want in cases:
            p = run([xv] + args)
            lines = p.stderr.splitlines()
            if p.returncode != want or p.stdout != "" or len(lines) != 1 or not lines[0].startswith("xvbench: "):
                failures.append(f"{' '.join(args)}: exit {p.returncode} (want {want}), "
                                f"stdout {p.stdout[:80]!r}, stderr {p.stderr[:300]!r}")
            else:
                print(f"ok: {' '.join(args)} -> {want}: {lines[0]}")
        need(not failures, "bad input handled badly:\n  " + "\n  ".join(failures))


def main(argv):
    if len(argv) == 2 and argv[1] == "--guest-commands":
        for c, a in CASES.items():
            if not c.startswith("rr"):
                print(c + "\t" + " ".join(a))
        return 0
    if len(argv) == 4 and argv[1] == "--validate":
        with open(argv[3]) as f:
            check_report(argv[2], strict_loads(f.read()))
        print(f"{argv[2]}: ok")
        return 0
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    xv, case = argv[1], argv[2]
    t0 = time.monotonic()
    try:
        if case in ("rr", "rr-ack"):
            case_rr(xv, case)
        elif case == "max-latency":
            case_max_latency(xv)
        elif case == "text":
            case_text(xv)
        elif case == "bad-input":
            case_bad_input(xv)
        elif case in CASES:
            run_case(xv, case)
        else:
            print(f"unknown case {case}", file=sys.stderr)
            return 2
    except CheckError as e:
        print(f"{case}: FAIL: {e}", file=sys.stderr)
        return 1
    print(f"{case}: ok ({time.monotonic() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
