# SPDX-License-Identifier: GPL-2.0-or-later
"""One scenario per paper.  Each takes (lab, results, opts), appends
samples ({"config", "rep", "guest", "metric", "value"}) and time series to
results, and runs its configurations interleaved: round 1 runs every
configuration once, then round 2, ...  so that slow drifts of a shared
machine's load hit every configuration alike."""
import os
import re
import time

from .runner import GUEST_R, LabError, Sampler, add_sample as add, pause_when_ready as _pause_when_ready
from . import p001
from . import p003
from . import p004
from . import p002burst

def rounds(opts, configs):
    """Interleaved (rep, config) pairs."""
    for rep in range(1, opts.reps + 1):
        for c in configs:
            yield rep, c


def each_round(lab, results, opts, configs, fn):
    """fn(rep, config) for every interleaved pair; a LabError ends only
    that configuration of that round, and is noted in the report: on a
    shared machine one failed boot must not void the other rounds."""
    for rep, c in rounds(opts, configs):
        try:
            fn(rep, c)
        except LabError as e:
            lab.log(f"round {rep}, {c}: {e} (going on with the next)")
            results["notes"].append(f"round {rep}, configuration {c} failed: {e}")
            results.setdefault("failed", []).append({"rep": rep, "config": c, "error": str(e)})


# --- 000: prime printing in 1 and 5 guests ---------------------------------
P000_CONFIGS = ["1", "2", "3", "weight", "policy"]


def run_000(lab, results, opts):
    maxn = opts.max or {"smoke": 2000, "quick": 200000, "full": 10_000_000}[opts.mode]
    configs = ["1"] if opts.mode == "smoke" else (opts.configs or P000_CONFIGS)
    cpu = opts.host_cpu
    results["params"].update({"prime_max": maxn, "guests": "1 vCPU, 256 MiB busybox (tools/vm/mkimage)",
                              "host_cpus_for_guests": cpu, "output": "the guest's serial console",
                              "weight": f"guest 5 {opts.weight}, others 100",
                              "configs": ", ".join(configs)})
    results["notes"].append(
        f"All guests' QEMU threads are pinned to host CPU(s) {cpu} (xvsched set cpus=), so the five "
        "guests compete for one core as the paper's five did for a 2-core/4-thread i3 "
        "(here 2 cores shared with other work).")
    def one(rep, cfg):
        lab.log(f"000 round {rep}/{opts.reps}: config {cfg}")
        _one_000(lab, results, opts, rep, cfg, maxn, cpu)
    each_round(lab, results, opts, configs, one)


def _one_000(lab, results, opts, rep, cfg, maxn, cpu):
    ng = 1 if cfg == "1" else 5
    # The guests boot one after another on one loaded core (up to a minute
    # each under TCG).  So that the comparison is of the workloads, not of
    # the boots, each guest says READY when booted and sleeps 5 s (guest
    # time); the host pauses it (QMP stop: its clock stops too) and, once
    # all are paused and the configuration's lever is set, resumes them
    # together (QMP cont).
    script = GUEST_R + f"echo XVLAB-READY; sleep 5; r prime xvbench prime --max {maxn}"
    guests = []
    policy = cfg == "policy"
    try:
        for i in range(1, ng + 1):
            n, pid = lab.start_busybox(f"p{cfg[:1]}{rep}g{i}", script, agent=policy, mem=256)
            guests.append((f"g{i}", n, pid))
            lab.xv("set", n, f"cpus={cpu}")
        sampler = Sampler({g: pid for g, _, pid in guests}, period=0.5)
        sampler.start()
        _pause_when_ready(lab, [n for _, n, _ in guests], opts.guest_timeout)
        if cfg == "3":
            lab.xv("set", guests[4][1], "nice=-20")
        elif cfg == "weight":
            for g, n, _ in guests:
                lab.xv("set", n, f"weight={opts.weight if g == 'g5' else 100}")
        go_rel = time.monotonic() - sampler.t0
        lab.qmp_all([n for _, n, _ in guests], "cont")
        if policy:
            # After the resume: a view opened on a paused guest times out.
            conf = "[daemon]\ninterval = 200ms\n"
            for g, n, _ in guests:
                conf += f"\n[domain {g}]\nmatch = {n}\nview = agent\n"
            for g, n, _ in guests:
                conf += (f"\n[task prime-{g}]\ndomain = {g}\ncomm = xvbench\n"
                         f"priority = {90 if g == 'g5' else 50}\n")
            dproc, _ = lab.daemon(conf, f"000-policy-r{rep}")
        timeout = opts.guest_timeout
        t_end = time.monotonic() + timeout
        for g, n, _ in guests:
            lab.wait_exit(n, max(5, t_end - time.monotonic()))
        sampler.stop()
        if policy:
            lab.end(dproc)
        ends = [sampler.end[g] for g, _, _ in guests if sampler.end[g] is not None]
        shared = sampler.cpu_between(go_rel, min(ends) if ends else (sampler.t[-1] if sampler.t else 0))
        missing = []
        for g, n, _ in guests:
            rpt = lab.reports(n).get("prime")
            if not rpt or rpt[0] != 0 or not rpt[1]:
                missing.append(g)
                lab.keep_console(n, os.path.join(lab.out, f"console-{cfg}-{rep}-{g}.txt"))
                continue
            res = rpt[1]["results"]
            add(results, cfg, rep, g, "real_s", res["real_ns"] / 1e9)
            add(results, cfg, rep, g, "user_s", res["user_ns"] / 1e9)
            add(results, cfg, rep, g, "sys_s", res["sys_ns"] / 1e9)
            add(results, cfg, rep, g, "primes", res["primes_found"])
            add(results, cfg, rep, g, "qemu_cpu_s", round(sampler.total[g], 3))
            add(results, cfg, rep, g, "cpu_s_shared", round(shared[g], 3))
            if sampler.end[g] is not None:
                add(results, cfg, rep, g, "wall_s", round(sampler.end[g], 2))
        results["series"].append({"config": cfg, "rep": rep, "t": sampler.t, "go_s": round(go_rel, 2),
                                  "cpu": {g: sampler.cpu[g] for g, _, _ in guests}})
        if missing:
            results["notes"].append(f"config {cfg} round {rep}: no report from {', '.join(missing)} "
                                    "(console kept beside results.json)")
    finally:
        lab.end_config()


# --- 002: lighttpd + ab vs tripwire (§5.2, §5.3, §5.4, §5.6) ---------------
# A configuration is BASE[-db][@VIEW][/INTERVAL]:
#   solo          lighttpd alone (ab inside the guest)
#   solo-xvsched  lighttpd alone, the daemon watching (its own cost)
#   equal         beside tripwire at equal priority, no daemon
#   idle          beside tripwire in xvsched's idle class
#   idle-base     the same with --base-xvsched's binary (the "before")
#   -db           tripwire in a second VM `db` on the same host CPU (§5.2's
#                 different domain) instead of in lighttpd's VM
#   @qga, @vmi    the daemon's guest view (§5.6: polling an agent in the
#                 guest vs reading its RAM from the host); default --view
#   /10ms ...     the daemon's interval (§5.3); default --interval
P002_QUICK = ["access", "solo", "solo-xvsched", "equal", "idle", "solo-xvsched@qga", "idle@qga", "idle/10ms", "idle/500ms"]
P002_SMOKE = ["solo", "idle"]
_P002_RE = re.compile(r"(solo|solo-xvsched|equal|idle|idle-base)(-db)?(?:@(qga|vmi))?(?:/([0-9]{1,5}(?:ms|s)))?")

TRIPWIRE_LOOP = (
    "cd /etc/tripwire; P=xvsched-lab; "
    "while :; do "
    "if [ -f /var/lib/tripwire/$(hostname).twd ]; then "
    "tripwire --check --cfgfile tw.cfg --polfile tw.pol >/dev/null 2>&1; "
    "else tripwire --init --cfgfile tw.cfg --polfile tw.pol --local-passphrase $P >/dev/null 2>&1; fi; "
    "done")


def p002_config(cfg, opts):
    """What configuration name cfg means (LabError if it means nothing)."""
    m = _P002_RE.fullmatch(cfg)
    if not m or (m.group(2) and m.group(1) in ("solo", "solo-xvsched")):
        raise LabError(f"002: unknown configuration '{cfg}' (BASE[-db][@qga|@vmi][/INTERVAL], BASE one of "
                       "solo, solo-xvsched, equal, idle, idle-base; -db only with equal and idle*)")
    base, db, view, interval = m.groups()
    if base == "idle-base" and not getattr(opts, "base_xvsched", None):
        raise LabError("002: configuration idle-base needs --base-xvsched BIN")
    return {"base": base, "db": bool(db), "view": view or getattr(opts, "view", None) or "vmi",
            "interval": interval or opts.interval,
            "daemon": base in ("solo-xvsched", "idle", "idle-base"),
            "bg": base in ("equal", "idle", "idle-base"),
            "xvsched": os.path.abspath(opts.base_xvsched) if base == "idle-base" else None}


def _other_cpus(host_cpu):
    """The host CPUs not in host_cpu ("1", "0-1", "2,3"), as taskset's list;
    None if there are none (the daemon then runs anywhere)."""
    mine = set()
    for part in str(host_cpu).split(","):
        a, _, b = part.partition("-")
        if a.strip().isdigit():
            mine.update(range(int(a), int(b if b.strip().isdigit() else a) + 1))
    rest = sorted(set(os.sched_getaffinity(0)) - mine)
    return ",".join(str(c) for c in rest) or None


TRIPWIRE_SETUP = (
    "cd /etc/tripwire; P=xvsched-lab; "
    "[ -f site.key ] || twadmin --generate-keys --site-keyfile site.key --site-passphrase $P >/dev/null; "
    "[ -f $(hostname)-local.key ] || twadmin --generate-keys --local-keyfile $(hostname)-local.key "
    "--local-passphrase $P >/dev/null; "
    "twadmin --create-cfgfile --cfgfile tw.cfg --site-keyfile site.key --site-passphrase $P twcfg.txt >/dev/null; "
    "twadmin --create-polfile --cfgfile tw.cfg --polfile tw.pol --site-keyfile site.key "
    "--site-passphrase $P twpol.txt >/dev/null; "
    "echo ok")


def run_002(lab, results, opts):
    requests = opts.requests or {"smoke": 50, "quick": 2000, "full": 5000}[opts.mode]
    configs = opts.configs or (P002_SMOKE if opts.mode == "smoke" else list(P002_QUICK))
    if not opts.configs and getattr(opts, "base_xvsched", None):
        configs.insert(configs.index("idle"), "idle-base")
    # §5.5 (burst-*: two busybox guests, no Debian) runs first, on its own
    burst = [c for c in configs if c.startswith("burst-")]
    configs = [c for c in configs if not c.startswith("burst-")]
    # every name checked before any boot; "access" is §5.1 (vmi-bench on VM web)
    parsed = {c: p002_config(c, opts) for c in configs if c != "access"}
    if burst:
        import argparse
        bopts = argparse.Namespace(**vars(opts))
        bopts.configs = burst
        if configs and not lab.debian:
            raise LabError("002 needs the Debian lab guest for " + ", ".join(configs))
        p002burst.run(lab, results, bopts, _pause_when_ready, each_round, _other_cpus(opts.host_cpu))
        if not configs:
            return
    if not lab.debian:
        raise LabError("002 needs the Debian lab guest (lighttpd, ab, tripwire): "
                       "tools/vm/mkdebian --profile lab --out DIR, then --debian DIR")
    want_db = any(p["db"] for p in parsed.values())
    daemon_cpus = _other_cpus(opts.host_cpu)
    results["params"].update({"ab": f"-n {requests} -c 1 http://localhost/x4k (4 KiB file)",
                              "guest": f"stock Debian 12, profile lab ({lab.debian}), 1 vCPU, 1 GiB",
                              "where": "same domain (ab, lighttpd and tripwire in VM web)"
                                       + ("; different domain (-db: tripwire in VM db)" if want_db else ""),
                              "host_cpus_for_guests": opts.host_cpu,
                              "daemon": f"view = {getattr(opts, 'view', None) or 'vmi'}, interval = {opts.interval} "
                                        "unless the configuration names them; pinned to host CPU(s) "
                                        f"{daemon_cpus or 'any'}",
                              "base_xvsched": getattr(opts, "base_xvsched", None) or "—",
                              "view": getattr(opts, "view", None) or "vmi", "interval": opts.interval,
                              "configs": ", ".join(configs)})
    results["notes"].append(
        "ab runs inside the guest beside lighttpd: the tools/vm guests have no network device, so "
        "the host cannot reach lighttpd; ab's own CPU is part of what the guest must share.")
    results["notes"].append(
        "tripwire: keys and policy are made once per run after boot (xv-tripwire-init's steps). "
        "Full mode also makes the database (over 10 min under TCG on a loaded host) and the "
        "background job is `tripwire --check` in a loop; --quick skips the database and loops "
        "`tripwire --init`, the same hash walk over the file system.")
    results["notes"].append(
        "The daemon runs on the host CPU(s) the guests are not pinned to (a host's housekeeping CPU); "
        "its host CPU is not taken from the guests'. `load1` is the host's 1-minute load average "
        "when each measurement ended.")
    if want_db:
        results["notes"].append(
            "Different domain: VM db (the same image) runs tripwire, pinned to the same host CPU as VM web; "
            "db is booted for the whole run, so every configuration (solo included) has it idling beside web.")
    guests = [("web", None)] + ([("db", None)] if want_db else [])
    names = {}
    try:
        for tag, _ in guests:
            names[tag], _pid = lab.start_debian(tag, cpus=1)
            lab.xv("set", names[tag], f"cpus={opts.host_cpu}")
        for tag in names:
            lab.log(f"002: booting the Debian lab guest {names[tag]} (minutes under TCG)")
            r = lab.vm("wait", names[tag], "--timeout", str(opts.guest_timeout), timeout=opts.guest_timeout + 30,
                       check=False)
            if r.returncode != 0:
                raise LabError(f"{names[tag]}: the Debian guest did not answer QGA in {opts.guest_timeout} s")
        setup = ("head -c 4096 /dev/zero > /var/www/html/x4k; systemctl is-active lighttpd >/dev/null || "
                 "systemctl start lighttpd; " + TRIPWIRE_SETUP)
        if opts.mode == "full":
            setup += ("; cd /etc/tripwire; P=xvsched-lab; [ -f /var/lib/tripwire/$(hostname).twd ] || "
                      "tripwire --init --cfgfile tw.cfg --polfile tw.pol --local-passphrase $P >/dev/null 2>&1; "
                      "echo db")
        lab.log("002: lighttpd's test file, tripwire's keys and policy"
                + (" and database" if opts.mode == "full" else "") + " (minutes under TCG)")
        for tag in names:
            lab.vm_exec(names[tag], setup if tag == "web" else TRIPWIRE_SETUP, timeout=opts.guest_timeout)

        def one(rep, cfg):
            lab.log(f"002 round {rep}/{opts.reps}: {cfg}")
            if cfg == "access":
                _access_002(lab, results, names["web"], rep)
                return
            rps, tl = _one_002(lab, names, cfg, parsed[cfg], requests, rep, opts, daemon_cpus)
            where = "diff" if parsed[cfg]["db"] else "same"
            add(results, cfg, rep, where, "rps", rps)
            add(results, cfg, rep, where, "load1", os.getloadavg()[0])
            if tl:
                _timeline_002(results, cfg, rep, where, tl)
        each_round(lab, results, opts, configs, one)
    finally:
        lab.end_config()


def _access_002(lab, results, n, rep):
    """§5.1: what one guest-memory access costs the host here (Table 1's
    rows), by tools/bench/vmi-bench on the running web VM: a word read
    (process_vm_readv: no mapping to make), a kernel address's translation
    (arithmetic) and a page walk, a full task-list scan, and a VM pause +
    resume (QMP stop + cont), which our reads do not need but a stop does."""
    import json
    bench = os.path.join(lab.build, "tools", "bench", "vmi-bench")
    if not os.access(bench, os.X_OK):
        raise LabError(f"{bench} is not built (§5.1 needs it)")
    pid = lab.vm("pid", n).stdout.strip().splitlines()[-1]
    r = lab.sh([bench, "--pid", pid, "--qmp", os.path.join(lab.rundir, n + ".qmp"), "--reps", "50",
                "--label", n], timeout=300)
    try:
        o = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise LabError(f"vmi-bench printed no JSON line: {r.stdout.strip()[-200:]}") from None
    for metric, key, scale in (("word_read_us", "word_read_ns", 1e-3), ("word_read_batched_us", "word_read_batched_ns", 1e-3),
                               ("translate_us", "kva_translate_ns", 1e-3), ("page_walk_us", "page_walk_ns", 1e-3),
                               ("scan_us", "scan_us_median", 1.0), ("tasks", "tasks", 1.0),
                               ("pause_resume_us", "pause_resume_us_median", 1.0)):
        v = o.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            add(results, "access", rep, "web", metric, v * scale)
    add(results, "access", rep, "web", "load1", os.getloadavg()[0])


def _timeline_002(results, cfg, rep, where, path):
    """The daemon's timeline (one JSON line a tick) -> the per-task CPU
    series of Figure 8, the daemon's own cost and its reaction: ticks from
    lighttpd's first busy tick to tripwire stopped."""
    import json
    t, cols, cost = [], {"lighttpd": [], "tripwire": []}, []
    react_ms = None
    busy_at = None
    fg_ticks = bg_ran = 0
    bg_cpu = 0.0
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read(16 << 20).splitlines()
    except OSError:
        return
    for ln in lines[:200000]:
        try:
            o = json.loads(ln)
            tms = float(o["t_ms"])
            tasks = {x.get("task"): x for x in o.get("tasks", []) if isinstance(x, dict)}
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        web, bg = tasks.get("web") or {}, tasks.get("bg") or {}
        t.append(tms / 1000.0)
        cols["lighttpd"].append(float(web.get("cpu_pct") or 0))
        cols["tripwire"].append(float(bg.get("cpu_pct") or 0))
        c = o.get("cost") or {}
        if isinstance(c, dict):
            cost.append(sum(float(c.get(k) or 0) for k in ("observe_us", "decide_us", "act_us")))
        if busy_at is None and web.get("busy") and bg:
            busy_at = tms
        if web.get("busy") and bg and bg.get("state") != "absent":
            fg_ticks += 1
            bg_cpu += float(bg.get("cpu_pct") or 0)
            bg_ran += bg.get("state") != "stopped"
        if busy_at is not None and react_ms is None and bg.get("state") == "stopped":
            react_ms = tms - busy_at
    if len(t) > 1500:   # a figure's worth; every tick stays in the timeline file
        k = (len(t) + 1499) // 1500
        t = t[::k]
        cols = {n: v[::k] for n, v in cols.items()}
    if t:
        results["series"].append({"config": cfg, "rep": rep, "guest": where, "t": t, "cpu": cols,
                                  "kind": "timeline"})
    if cost:
        add(results, cfg, rep, where, "tick_cost_us", sorted(cost)[len(cost) // 2])
    add(results, cfg, rep, where, "react_ms", react_ms)
    if fg_ticks:
        # while lighttpd was busy: the share of ticks tripwire was not
        # stopped, and its mean CPU (the guest's view, % of the vCPU)
        add(results, cfg, rep, where, "bg_ran_pct", bg_ran / fg_ticks * 100.0)
        add(results, cfg, rep, where, "bg_cpu_pct", bg_cpu / fg_ticks)


SETTLE_S = 8
# A guest-exec waits while the daemon holds the VM paused (a guest kernel
# call on a loaded host: seconds), so it gets longer than 60 s.
EXEC_S = 300


def _wait_view(timeline, timeout):
    """Until the daemon's timeline shows domain web's view open."""
    import json
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            with open(timeline, encoding="utf-8", errors="replace") as f:
                for ln in f.read(16 << 20).splitlines():
                    try:
                        doms = json.loads(ln).get("domains") or []
                    except (ValueError, AttributeError):
                        continue
                    if any(isinstance(d, dict) and d.get("domain") == "web" and d.get("view") for d in doms):
                        return
        except OSError:
            pass
        time.sleep(0.5)
    raise LabError(f"the daemon's view of web did not open in {timeout} s ({timeline})")


def _one_002(lab, names, cfg, c, requests, rep, opts, daemon_cpus):
    dproc = None
    web = names["web"]
    bgvm = names["db"] if c["db"] else web
    # The guest has one QGA connection: while the daemon's qga view uses
    # it, a guest-exec from here can time out, and a guest-exec that
    # waited for ab would keep the view out.  So everything is started
    # before the daemon: tripwire, then ab detached and delayed until the
    # daemon has settled; ab says on the serial console when it is done;
    # the daemon is stopped before the result is read.
    # The vmi view does not use QGA: there the daemon starts first, and ab
    # once the daemon has settled (its view open, then SETTLE_S for its
    # first round's guest kernel calls), as in the paper's long runs.
    tag = f"XVLAB-AB-DONE {cfg}-{rep}-{time.monotonic_ns()}"
    ftag = re.sub(r"[^A-Za-z0-9_.-]", "-", cfg)
    first = c["daemon"] and c["view"] == "vmi"
    delay = 8 if c["daemon"] and not first else 0
    timeline = None
    ab = (f"rm -f /run/xvlab-ab.out; (sleep {delay}; ab -q -n {requests} -c 1 http://localhost/x4k "
          f"> /run/xvlab-ab.out 2>&1; echo '{tag}' > /dev/ttyS0) </dev/null >/dev/null 2>&1 &")
    try:
        if c["bg"]:
            lab.vm_exec(bgvm, f"nohup sh -c '{TRIPWIRE_LOOP}' >/dev/null 2>&1 & echo $! > /run/xvlab-bg.pid",
                        timeout=EXEC_S)
            time.sleep(3)
        if not first:
            lab.vm_exec(web, ab, timeout=EXEC_S)
        if c["daemon"]:
            view = c["view"]
            # vmi: the guest pays nothing per poll (the host reads its RAM);
            # its stops resume through the guest kernel (docs/agentless.md).
            calls = "agentless_calls = yes\n" if view == "vmi" else ""
            timeline = os.path.join(lab.out, f"002-{ftag}-r{rep}.timeline.jsonl")
            conf = (f"[daemon]\ninterval = {c['interval']}\n{calls}timeline = {timeline}\n\n"
                    f"[domain web]\nmatch = {web}\nview = {view}\n\n"
                    + (f"[domain db]\nmatch = {bgvm}\nview = {view}\n\n" if c["db"] else "")
                    + "[task web]\ndomain = web\ncomm = lighttpd\n\n"
                    + f"[task bg]\ndomain = {'db' if c['db'] else 'web'}\ncomm = tripwire\nclass = idle\n")
            dproc, _ = lab.daemon(conf, f"002-{ftag}-r{rep}", xvsched=c["xvsched"], cpus=daemon_cpus)
            if first:
                _wait_view(timeline, opts.guest_timeout)
                time.sleep(SETTLE_S)
                lab.vm_exec(web, ab, timeout=EXEC_S)
        t_end = time.monotonic() + opts.guest_timeout
        while tag not in lab.read_console(web)[-(1 << 20):]:
            if time.monotonic() > t_end:
                raise LabError(f"002 {cfg}: ab did not finish in {opts.guest_timeout} s")
            time.sleep(0.5)
    finally:
        if dproc is not None:
            lab.end(dproc)
        if c["bg"]:
            lab.vm_exec(bgvm, "kill $(cat /run/xvlab-bg.pid) 2>/dev/null; pkill -x tripwire; "
                        "rm -f /run/xvlab-bg.pid; true", timeout=EXEC_S, check=False)
    r = lab.vm_exec(web, "cat /run/xvlab-ab.out", timeout=EXEC_S)
    for line in r.stdout.splitlines():
        if line.startswith("Requests per second:"):
            return float(line.split()[3]), timeline
    raise LabError(f"002 {cfg}: ab printed no 'Requests per second' line: {r.stdout.strip()[-200:]}")


SCENARIOS = {
    "000": (run_000, "prime printing 1..N in 1, 5, 5-with-nice −20 guests; + weight, priority policy"),
    "001": (p001.run, "regs/memcpy/randread TSC-timed in the paper's 7 configurations: host, Mint nodes as xvsched partitions, guests shared vs partitioned, a disk image per partition"),
    "002": (run_002, "§5.2 lighttpd + ab beside tripwire (Debian lab guest): equal vs idle class; "
                     "§5.5 burst-* (busybox): a short-running process beside a CPU hog"),
    "003": (p003.run, "timer/ACK response with and without stress + network load; stones, 1 GiB stride, "
                      "TCP_RR with 1, 2, 3 VMs (Table 2)"),
    "004": (lambda lab, results, opts: p004.run(lab, results, opts, _pause_when_ready, each_round),
            "timer jitter under kernel / kernel+I/O load (tmpfs, emulated IDE, virtio disk), before/after RT priority"),
}
