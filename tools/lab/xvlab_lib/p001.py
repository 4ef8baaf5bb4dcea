# SPDX-License-Identifier: GPL-2.0-or-later
"""Paper 001 (KVM on the Mint partitioned multi-kernel): the scenario and
its report.

Mint's OS nodes become xvsched partitions (`xvsched partition`): named sets
of host CPUs that groups of domains share, each partition with its own disk
image.  The paper's seven configurations, as far as a 2-core host allows:

  host            (1) plain Linux: xvbench on the host, unplaced
  node0           (2) Mint node 0: xvbench on the host in partition n0 (CPU 1)
  nodes01         (3) nodes 0 and 1 concurrently: one xvbench in n0 (CPU 1),
                      one in n1 (CPU 0)
  guest           (4) Linux + 1 guest, unplaced
  node0-guest     (5) node 0 + 1 guest: the guest in partition n0
  nodes01-guests  (6) nodes 0 and 1 each with 1 guest, concurrently
                      (partitioned: n0 = CPU 1 + guest 1, n1 = CPU 0 + guest 2)
  shared-guests   (7) Linux with 2 guests, concurrently (shared: both in one
                      partition of CPUs 0-1)

Workloads (TSC-timed, xvbench, each repetition's cost in ns, median of the
repetitions): regs (register increments), memcpy (1 MiB copies), randread
(lseek + 256 KiB O_DIRECT read at random offsets of the partition's disk
image; in a guest its virtio disk /dev/vda, QEMU opening the image with
cache=none).  Host processes are partition members too: `xvsched -b local
-l NAME=pid:PID partition create ...` places the waiting shell, whose
xvbench children inherit the placement; host and guest configurations run
their instances together (released at once)."""
import os
import signal
import subprocess
import threading
import time

from . import stats as S
from .runner import GUEST_R, LabError, add_sample as _add, loadavg, pause_when_ready as _pause_when_ready

CONFIGS = ["host", "node0", "nodes01", "guest", "node0-guest", "nodes01-guests", "shared-guests"]
PAPER_NO = {"host": 1, "node0": 2, "nodes01": 3, "guest": 4, "node0-guest": 5, "nodes01-guests": 6,
            "shared-guests": 7}
WORKLOADS = ["regs", "memcpy", "randread"]
# Partitions: name -> host CPUs.  n0 on CPU 1 (where the other scenarios run
# their guests), n1 on CPU 0; 'shared' is both.
PARTS = {"n0": "1", "n1": "0", "shared": "0-1"}
# Which partition each instance of a configuration is in (None: unplaced),
# and which disk image it reads.
LAYOUT = {
    "host": [(None, "d0")],
    "node0": [("n0", "d0")],
    "nodes01": [("n0", "d0"), ("n1", "d1")],
    "guest": [(None, "d0")],
    "node0-guest": [("n0", "d0")],
    "nodes01-guests": [("n0", "d0"), ("n1", "d1")],
    "shared-guests": [("shared", "d0"), ("shared", "d1")],
}

def sizes(mode):
    """xvbench arguments per workload for a mode."""
    s = {"smoke": dict(reps=3, regs=2_000_000, memcpy=10, rr=5, img=16),
         "quick": dict(reps=5, regs=20_000_000, memcpy=100, rr=20, img=32),
         "full": dict(reps=10, regs=100_000_000, memcpy=1000, rr=100, img=256)}[mode]
    args = {"regs": ["--loops", str(s["regs"]), "--reps", str(s["reps"])],
            "memcpy": ["--size", "1M", "--loops", str(s["memcpy"]), "--reps", str(s["reps"])],
            "randread": ["--size", "256K", "--loops", str(s["rr"]), "--reps", str(s["reps"]), "--direct"]}
    return args, s["img"]


def _xvp(lab, *args, local=None, check=True):
    """xvsched partition ... in the lab's state dir; local: {name: pid} for
    host processes (the local backend), else the guests (qmp backend)."""
    argv = [lab.xvsched]
    if local:
        argv += ["-b", "local"]
        for n, pid in local.items():
            argv += ["-l", f"{n}=pid:{pid}"]
    else:
        argv += ["-b", "qmp"]
    return lab.sh(argv + ["partition", *args], timeout=120, check=check,
                  env={"XVSCHED_STATE_DIR": lab.state})


def _partition(lab, layout, members, local=None):
    """Create each partition the layout names, with its members."""
    by = {}
    for (part, _), m in zip(layout, members):
        if part:
            by.setdefault(part, []).append(m)
    for part, ms in by.items():
        _xvp(lab, "create", part, "--cpus", PARTS[part], *ms, local=local)
    if by:
        lab.debug(_xvp(lab, "list", local=local).stdout.strip())


def run(lab, results, opts):
    args, img_mb = sizes(opts.mode)
    configs = opts.configs or (["host", "node0", "guest", "node0-guest"] if opts.mode == "smoke" else CONFIGS)
    for c in configs:
        if c not in LAYOUT:
            raise LabError(f"001: unknown configuration '{c}' ({', '.join(CONFIGS)})")
    if (os.cpu_count() or 1) < 2:
        raise LabError("001 needs 2 host CPUs (two partitions of one CPU each)")
    results["params"].update({
        "regs": "xvbench regs " + " ".join(args["regs"]),
        "memcpy": "xvbench memcpy " + " ".join(args["memcpy"]),
        "randread": "xvbench randread " + " ".join(args["randread"]),
        "partitions": ", ".join(f"{p} = CPU {c}" for p, c in PARTS.items()),
        "disk_images": f"{img_mb} MiB raw, random data, one per partition (d0, d1); guests: virtio, cache=none",
        "guests": "busybox, 1 vCPU, 192 MiB",
        "configs": ", ".join(f"{c} ({PAPER_NO[c]})" for c in configs)})
    results["notes"].append(
        "Mint is not run: each of its OS nodes is an xvsched partition (`xvsched partition create NAME "
        "--cpus LIST DOMAIN...`), host CPUs shared by the domains in it, with its own disk image. "
        "A Mint node owns its memory and disk controller; here the partitions share the host's memory "
        "and its one disk (the images are files on it), so memory-bus and disk contention stay.")
    results["notes"].append(
        "A 2-core host: partitions n0 (CPU 1) and n1 (CPU 0), 'shared' both; CPU 0 also runs the "
        "host's own work (and, on this machine, other engineers' guests). Guests run under TCG where "
        "KVM is missing (see Machine), which makes every guest figure a TCG figure.")
    # One disk image per partition slot, random data so that reads hit
    # allocated blocks (a sparse file reads as holes).
    imgs = {}
    for d in ("d0", "d1"):
        p = os.path.join(lab.tmp, f"001-{d}.raw")
        with open(p, "wb") as f:
            for _ in range(img_mb):
                f.write(os.urandom(1 << 20))
        imgs[d] = p
        # Read once, past every cache (O_DIRECT): the first configuration
        # must not be the one that pays for a cold disk.
        lab.sh(["dd", f"if={p}", "of=/dev/null", "bs=1M", "iflag=direct"], timeout=300, check=False)
    xvbench = os.path.join(lab.build, "bench", "xvbench")

    def one(rep, cfg):
        lab.log(f"001 round {rep}/{opts.reps}: {cfg} (config {PAPER_NO[cfg]}), load {loadavg()}")
        _add(results, cfg, rep, "host", "load", loadavg())
        if cfg.endswith("guest") or cfg.endswith("guests"):
            _one_guests(lab, results, opts, rep, cfg, args, imgs)
        else:
            _one_host(lab, results, opts, rep, cfg, args, imgs, xvbench)

    from .scenarios import each_round        # noqa: E402 (scenarios imports this module)
    each_round(lab, results, opts, configs, one)


def _one_host(lab, results, opts, rep, cfg, args, imgs, xvbench):
    """Host processes: a shell per instance waits for a line on stdin before
    each workload and says 'done' after it; all are placed first, then
    released together for each workload."""
    layout = LAYOUT[cfg]
    procs, names = [], []
    out = {}
    try:
        for i, (_, disk) in enumerate(layout, 1):
            steps = []
            for wl in WORKLOADS:
                f = os.path.join(lab.tmp, f"001-h{i}-{wl}.json")
                out[(i, wl)] = f
                extra = ["--file", imgs[disk]] if wl == "randread" else []
                cmd = " ".join([xvbench, wl, *args[wl], *extra, "--quiet", f"--json={f}"])
                steps.append(f"read x; {cmd}; echo done $?")
            p = subprocess.Popen(["sh", "-c", "; ".join(steps)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, start_new_session=True)
            lab.procs.append((p, f"001-host-{i}"))
            procs.append(p)
            names.append(f"h{i}")
        _partition(lab, layout, names, local={n: p.pid for n, p in zip(names, procs)})
        watchdog = threading.Timer(opts.guest_timeout, lambda: [q.kill() for q in procs])
        watchdog.start()
        try:
            for wl in WORKLOADS:
                for p in procs:
                    p.stdin.write("\n")
                    p.stdin.flush()
                for p in procs:
                    line = p.stdout.readline(4096)
                    while line and not line.startswith("done"):
                        line = p.stdout.readline(4096)
                    if not line:
                        raise LabError(f"001 {cfg}: host xvbench {wl} ended early")
        finally:
            watchdog.cancel()
        for i in range(1, len(layout) + 1):
            for wl in WORKLOADS:
                _add(results, cfg, rep, f"h{i}", wl, _median(out[(i, wl)]))
    except (OSError, BrokenPipeError) as e:
        raise LabError(f"001 {cfg}: host run: {e}") from None
    finally:
        for p in procs:
            try:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)     # the shell and its xvbench
            except OSError:
                pass
            lab.end(p)
        lab.end_config()


def _median(path):
    import json
    try:
        with open(path) as f:
            return json.load(f)["results"]["rep"]["median_ns"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _one_guests(lab, results, opts, rep, cfg, args, imgs):
    layout = LAYOUT[cfg]
    work = "; ".join(f"r {wl} xvbench {wl} {' '.join(args[wl])}" + (" --file /dev/vda" if wl == "randread" else "")
                     for wl in WORKLOADS)
    script = GUEST_R + "echo XVLAB-READY; sleep 5; " + work
    try:
        names = []
        for i, (_, disk) in enumerate(layout, 1):
            n, _ = lab.start_busybox(f"m{rep}{CONFIGS.index(cfg)}{i}", script, mem=192,
                                     extra=["--disk", f"{imgs[disk]},if=virtio,cache=none"])
            names.append(n)
        # The guests boot unplaced, are paused at READY, placed, and
        # resumed together (as 000 does): the boots stay out of it.
        _pause_when_ready(lab, names, opts.guest_timeout)
        _partition(lab, layout, names)
        lab.qmp_all(names, "cont")
        for n in names:
            lab.wait_exit(n, opts.guest_timeout)
        for i, n in enumerate(names, 1):
            rp = lab.reports(n)
            missing = [wl for wl in WORKLOADS if not (rp.get(wl) and rp[wl][1])]
            for wl in WORKLOADS:
                if rp.get(wl) and rp[wl][1]:
                    _add(results, cfg, rep, f"g{i}", wl, rp[wl][1]["results"]["rep"]["median_ns"])
            if missing:
                lab.keep_console(n, os.path.join(lab.out, f"console-{cfg}-{rep}-g{i}.txt"))
                results["notes"].append(f"{cfg} round {rep}: guest {i} reported no {', '.join(missing)} "
                                        "(console kept)")
    finally:
        lab.end_config()


# --- the report ----------------------------------------------------------------
# The paper's figures (../shared/docs/papers.md): relative only.
P_GUEST = {"regs": 1.0, "memcpy": 1.20, "randread": 1.16}    # in a guest ÷ on the host
P_CONC = {"regs": 1.0, "memcpy": [1.67, 1.71], "randread": None}   # two at once ÷ one
P_MINT = {"regs": 1.0, "memcpy": 1.0, "randread": 1.0}     # Mint node ÷ plain Linux
P_SHARED = {"regs": 1.0, "memcpy": 1.0, "randread": 1.08}  # config 7 ÷ config 6
WHAT = {"regs": "register increments", "memcpy": "memcpy 1 MiB", "randread": "randread 256 KiB (O_DIRECT)"}


def _row(label, paper, ours, unit):
    return {"label": label, "paper": paper, "ours": ours, "unit": unit}


def _per_round(sm, cfg, metric):
    """{rep: mean over the configuration's instances} (h1/h2 or g1/g2)."""
    acc = {}
    for s in sm:
        if s.get("config") == cfg and s.get("metric") == metric and s.get("guest") != "host":
            v = s.get("value")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                acc.setdefault(s.get("rep"), []).append(float(v))
    return {r: sum(v) / len(v) for r, v in acc.items() if v}


def _ratio(sm, base, cfg, metric):
    a, b = _per_round(sm, base, metric), _per_round(sm, cfg, metric)
    return [b[r] / a[r] for r in sorted(set(a) & set(b), key=str) if a[r] > 0]


RATIOS = [
    ("node0", "host", "Mint node 0 ÷ plain Linux (2 ÷ 1)", P_MINT),
    ("nodes01", "node0", "nodes 0 and 1 at once ÷ node 0 alone (3 ÷ 2)", P_CONC),
    ("guest", "host", "1 guest ÷ plain Linux (4 ÷ 1)", P_GUEST),
    ("node0-guest", "node0", "guest in node 0 ÷ node 0 (5 ÷ 2)", P_GUEST),
    ("nodes01-guests", "node0-guest", "2 guests, partitioned ÷ 1 guest in a partition (6 ÷ 5)", P_CONC),
    ("shared-guests", "guest", "2 guests, shared ÷ 1 guest (7 ÷ 4)", P_CONC),
    ("shared-guests", "nodes01-guests", "2 guests: shared ÷ partitioned (7 ÷ 6)", P_SHARED),
]


def tables(data):
    sm = data.get("samples", [])
    cfgs = [c for c in CONFIGS if any(s.get("config") == c for s in sm)]
    cost = []
    for wl in WORKLOADS:
        for c in cfgs:
            st = S.summarize(list(_per_round(sm, c, wl).values()))
            if st:
                cost.append(_row(f"{WHAT[wl]}: {c} ({PAPER_NO[c]})", None, st, "ns/rep"))
    load = [_row(f"load average at the start: {c} ({PAPER_NO[c]})", None,
                 S.summarize(S.select(sm, c, "host", "load")), "")
            for c in cfgs]
    ratios = []
    for wl in WORKLOADS:
        for cfg, base, what, paper in RATIOS:
            r = _ratio(sm, base, cfg, wl)
            if r:
                ratios.append(_row(f"{WHAT[wl]}: {what}", paper.get(wl), S.summarize(r), "×"))
    return [
        {"title": "Per-repetition cost (TSC-timed) in the paper's configurations",
         "note": "Each repetition's cost in ns; per round the median of the repetitions, averaged over the "
                 "configuration's instances (two in 3, 6, 7); then the median (min–max, n) over rounds. "
                 "The paper gives no absolute figures.",
         "rows": cost},
        {"title": "Ratios, paired per round",
         "note": "Paper: Mint ≈ plain Linux for all three parts; register increments cost nothing in a guest "
                 "and do not interfere; memcpy 1024 KB +20 % in a guest and +67–71 % with two concurrent "
                 "copies, partitioned or not; I/O +16 % in a guest, and two guests on two partitions with a "
                 "disk each 8 % faster than two guests sharing one host (7 ÷ 6 ≈ 1.08).",
         "rows": ratios},
        {"title": "Machine load during the run",
         "note": "The 1-minute load average of the (shared, 2-core) host when each measurement started: "
                 "read every figure above beside it.",
         "rows": load},
    ]


def figures(data):
    sm = data.get("samples", [])
    bars = []
    for wl in WORKLOADS:
        for cfg, base, what, paper in RATIOS:
            st = S.summarize(_ratio(sm, base, cfg, wl))
            if st:
                p = paper.get(wl)
                bars.append({"label": f"{wl} {PAPER_NO[cfg]}÷{PAPER_NO[base]}", "ours": st,
                             "paper": (p[0] + p[1]) / 2 if isinstance(p, list) else p})
    if not bars:
        return []
    return [{"name": "fig-ratios", "title": "Paper 001: cost ratios between configurations",
             "kind": "bars", "bars": bars, "ylabel": "ratio (1 = no cost), log scale", "log": True}]
