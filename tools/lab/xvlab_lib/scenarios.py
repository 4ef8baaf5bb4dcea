# SPDX-License-Identifier: GPL-2.0-or-later
"""One scenario per paper.  Each takes (lab, results, opts), appends
samples ({"config", "rep", "guest", "metric", "value"}) and time series to
results, and runs its configurations interleaved: round 1 runs every
configuration once, then round 2, ...  so that slow drifts of a shared
machine's load hit every configuration alike."""
import os
import time

from .runner import LabError, Sampler

# A guest prints each report between these lines (runner.Lab.reports).
GUEST_R = ('r(){ t=$1;shift;"$@" --quiet --json=/tmp/o.json;s=$?;'
           'echo;echo "XVLAB-BEGIN $t";cat /tmp/o.json;echo "XVLAB-END $t $s";rm -f /tmp/o.json;};')


def add(results, config, rep, guest, metric, value):
    if value is None:
        return
    results["samples"].append({"config": config, "rep": rep, "guest": guest,
                               "metric": metric, "value": value})


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


def _pause_when_ready(lab, names, timeout):
    """QMP stop each guest as soon as its console says XVLAB-READY."""
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


# --- 002 §5.2: lighttpd + ab vs tripwire -----------------------------------
P002_CONFIGS = ["solo", "solo-xvsched", "equal", "idle"]

TRIPWIRE_LOOP = (
    "cd /etc/tripwire; P=xvsched-lab; "
    "while :; do "
    "if [ -f /var/lib/tripwire/$(hostname).twd ]; then "
    "tripwire --check --cfgfile tw.cfg --polfile tw.pol >/dev/null 2>&1; "
    "else tripwire --init --cfgfile tw.cfg --polfile tw.pol --local-passphrase $P >/dev/null 2>&1; fi; "
    "done")


def run_002(lab, results, opts):
    requests = opts.requests or {"smoke": 50, "quick": 400, "full": 5000}[opts.mode]
    configs = opts.configs or P002_CONFIGS
    if not lab.debian:
        raise LabError("002 needs the Debian lab guest (lighttpd, ab, tripwire): "
                       "tools/vm/mkdebian --profile lab --out DIR, then --debian DIR")
    results["params"].update({"ab": f"-n {requests} -c 1 http://localhost/x4k (4 KiB file)",
                              "guest": f"stock Debian 12, profile lab ({lab.debian}), 1 vCPU, 1 GiB",
                              "where": "same domain (ab, lighttpd and tripwire in one VM)",
                              "host_cpus_for_guests": opts.host_cpu,
                              "daemon": f"view = {getattr(opts, 'view', 'qga')}, interval = {opts.interval}",
                              "configs": ", ".join(configs)})
    results["notes"].append(
        "ab runs inside the guest beside lighttpd: the tools/vm guests have no network device, so "
        "the host cannot reach lighttpd; ab's own CPU is part of what the guest must share.")
    results["notes"].append(
        "tripwire: keys and policy are made once per run after boot (xv-tripwire-init's steps). "
        "Full mode also makes the database (over 10 min under TCG on a loaded host) and the "
        "background job is `tripwire --check` in a loop; --quick skips the database and loops "
        "`tripwire --init`, the same hash walk over the file system.")
    n, pid = lab.start_debian("web", cpus=1)
    try:
        lab.xv("set", n, f"cpus={opts.host_cpu}")
        lab.log(f"002: booting the Debian lab guest {n} (minutes under TCG)")
        r = lab.vm("wait", n, "--timeout", str(opts.guest_timeout), timeout=opts.guest_timeout + 30, check=False)
        if r.returncode != 0:
            raise LabError(f"{n}: the Debian guest did not answer QGA in {opts.guest_timeout} s")
        setup = ("head -c 4096 /dev/zero > /var/www/html/x4k; systemctl is-active lighttpd >/dev/null || "
                 "systemctl start lighttpd; cd /etc/tripwire; P=xvsched-lab; "
                 "[ -f site.key ] || twadmin --generate-keys --site-keyfile site.key --site-passphrase $P >/dev/null; "
                 "[ -f $(hostname)-local.key ] || twadmin --generate-keys --local-keyfile $(hostname)-local.key "
                 "--local-passphrase $P >/dev/null; "
                 "twadmin --create-cfgfile --cfgfile tw.cfg --site-keyfile site.key --site-passphrase $P twcfg.txt >/dev/null; "
                 "twadmin --create-polfile --cfgfile tw.cfg --polfile tw.pol --site-keyfile site.key "
                 "--site-passphrase $P twpol.txt >/dev/null; "
                 "echo ok")
        if opts.mode == "full":
            setup += ("; [ -f /var/lib/tripwire/$(hostname).twd ] || tripwire --init --cfgfile tw.cfg "
                      "--polfile tw.pol --local-passphrase $P >/dev/null 2>&1; echo db")
        lab.log("002: lighttpd's test file, tripwire's keys and policy"
                + (" and database" if opts.mode == "full" else "") + " (minutes under TCG)")
        lab.vm_exec(n, setup, timeout=opts.guest_timeout)
        def one(rep, cfg):
            lab.log(f"002 round {rep}/{opts.reps}: {cfg}")
            rps = _one_002(lab, n, cfg, requests, rep, opts)
            add(results, cfg, rep, "same", "rps", rps)
        each_round(lab, results, opts, configs, one)
    finally:
        lab.end_config()


def _one_002(lab, n, cfg, requests, rep, opts):
    dproc = None
    bg = cfg in ("equal", "idle")
    daemon = cfg in ("idle", "solo-xvsched")
    # The guest has one QGA connection: while the daemon's qga view uses
    # it, a guest-exec from here can time out, and a guest-exec that
    # waited for ab would keep the view out.  So everything is started
    # before the daemon: tripwire, then ab detached and delayed until the
    # daemon has settled; ab says on the serial console when it is done;
    # the daemon is stopped before the result is read.
    tag = f"XVLAB-AB-DONE {cfg}-{rep}-{time.monotonic_ns()}"
    delay = 8 if daemon else 0
    try:
        if bg:
            lab.vm_exec(n, f"nohup sh -c '{TRIPWIRE_LOOP}' >/dev/null 2>&1 & echo $! > /run/xvlab-bg.pid", timeout=60)
            time.sleep(3)
        lab.vm_exec(n, f"rm -f /run/xvlab-ab.out; (sleep {delay}; ab -q -n {requests} -c 1 http://localhost/x4k "
                       f"> /run/xvlab-ab.out 2>&1; echo '{tag}' > /dev/ttyS0) </dev/null >/dev/null 2>&1 &",
                    timeout=60)
        if daemon:
            view = getattr(opts, "view", "qga")
            # vmi: the guest pays nothing per poll (the host reads its RAM);
            # its stops resume through the guest kernel (docs/agentless.md).
            calls = "agentless_calls = yes\n" if view == "vmi" else ""
            conf = (f"[daemon]\ninterval = {opts.interval}\n{calls}\n[domain web]\nmatch = {n}\nview = {view}\n\n"
                    "[task web]\ndomain = web\ncomm = lighttpd\npriority = 60\n\n"
                    "[task bg]\ndomain = web\ncomm = tripwire\nclass = idle\n")
            dproc, _ = lab.daemon(conf, f"002-{cfg}-r{rep}")
        t_end = time.monotonic() + opts.guest_timeout
        while tag not in lab.read_console(n)[-(1 << 20):]:
            if time.monotonic() > t_end:
                raise LabError(f"002 {cfg}: ab did not finish in {opts.guest_timeout} s")
            time.sleep(0.5)
    finally:
        if dproc is not None:
            lab.end(dproc)
        if bg:
            lab.vm_exec(n, "kill $(cat /run/xvlab-bg.pid) 2>/dev/null; pkill -x tripwire; "
                        "rm -f /run/xvlab-bg.pid; true", timeout=60, check=False)
    r = lab.vm_exec(n, "cat /run/xvlab-ab.out", timeout=60)
    for line in r.stdout.splitlines():
        if line.startswith("Requests per second:"):
            return float(line.split()[3])
    raise LabError(f"002 {cfg}: ab printed no 'Requests per second' line: {r.stdout.strip()[-200:]}")


# --- 004: timer jitter under load, before/after RT priority ----------------
P004_CONFIGS = ["kernel-before", "kernel-after", "kernel-io-before", "kernel-io-after"]


def run_004(lab, results, opts):
    dur = opts.duration or {"smoke": 3, "quick": 15, "full": 240}[opts.mode]
    configs = opts.configs or P004_CONFIGS
    cpu = opts.host_cpu
    results["params"].update({"timer": f"xvbench timer --mode abs --interval 1ms --prio 90, {dur} s",
                              "kernel_load": "xvbench load kernel (SysV shm + semaphores, sched_yield, 1 µs sleeps)",
                              "io_load": "xvbench load io + files + udp in the guest; xvbench load io on the host",
                              "host_load": f"xvbench load cpu on host CPU {cpu} (where the guest runs)",
                              "after": "xvsched set rt=fifo:50 (vCPU, emulator and I/O threads)",
                              "configs": ", ".join(configs)})
    results["notes"].append(
        "The busybox guest has no disk: its I/O load works on the initramfs (tmpfs) and loopback "
        "UDP; the paper's emulated-vs-virtio devices and vhost-net are not compared.")
    xvbench = os.path.join(lab.build, "bench", "xvbench")
    def one(rep, cfg):
        lab.log(f"004 round {rep}/{opts.reps}: {cfg}")
        io = cfg.startswith("kernel-io")
        loads = f"xvbench load kernel --duration {dur + 4} --quiet & "
        if io:
            loads += (f"xvbench load io --dir /tmp --duration {dur + 4} --quiet & "
                      f"xvbench load files --dir /tmp --duration {dur + 4} --quiet & "
                      f"xvbench load udp --duration {dur + 4} --quiet & ")
        # RT threads while the guest kernel boots make its timer check fail
        # ("IO-APIC + timer doesn't work", panic): the levers are set once
        # it is up, while it is paused (as in 000).
        script = (GUEST_R + "echo XVLAB-READY; sleep 5; " + loads
                  + f"sleep 1; r timer xvbench timer --mode abs --interval 1ms --prio 90 --duration {dur}; wait")
        host = []
        try:
            n, pid = lab.start_busybox(f"t{rep}{P004_CONFIGS.index(cfg) if cfg in P004_CONFIGS else 9}", script, mem=256)
            lab.xv("set", n, f"cpus={cpu}")
            _pause_when_ready(lab, [n], opts.guest_timeout)
            if cfg.endswith("after"):
                lab.xv("set", n, "rt=fifo:50")
            lab.qmp_all([n], "cont")
            host.append(lab.spawn(["taskset", "-c", str(cpu), xvbench, "load", "cpu", "--duration",
                                   str(opts.guest_timeout), "--quiet"], "host-load-cpu"))
            if io:
                host.append(lab.spawn(["taskset", "-c", str(cpu), xvbench, "load", "io", "--dir", lab.tmp,
                                       "--duration", str(opts.guest_timeout), "--quiet"], "host-load-io"))
            lab.wait_exit(n, opts.guest_timeout)
            rpt = lab.reports(n).get("timer")
            if not rpt or not rpt[1]:
                lab.keep_console(n, os.path.join(lab.out, f"console-{cfg}-{rep}.txt"))
                results["notes"].append(f"{cfg} round {rep}: no timer report (console kept)")
                return
            lat = rpt[1]["results"]["latency"]
            add(results, cfg, rep, "g1", "max_ms", lat["max_ns"] / 1e6)
            add(results, cfg, rep, "g1", "p99_ms", lat["p99_ns"] / 1e6)
            add(results, cfg, rep, "g1", "mean_ms", lat["mean_ns"] / 1e6)
            add(results, cfg, rep, "g1", "wakeups", lat["count"])
        finally:
            for p in host:
                lab.end(p)
            lab.end_config()
    each_round(lab, results, opts, configs, one)


# --- 003: isolation with 1, 2, 3 VMs ---------------------------------------
def run_003(lab, results, opts):
    dur = opts.duration or {"smoke": 2, "quick": 5, "full": 30}[opts.mode]
    size = {"smoke": "64M", "quick": "128M", "full": "1G"}[opts.mode]
    mem = {"smoke": 192, "quick": 256, "full": 1300}[opts.mode]
    results["params"].update({"stones": f"xvbench stones --duration {dur}",
                              "memstride": f"xvbench memstride --size {size} --stride 4K",
                              "placement": "guest 1 on host CPU 1; guests 2 and 3 on CPU 0 (a 2-core host "
                                           "has no 2 dedicated cores per VM)"})
    results["notes"].append("Network response and TCP_RR isolation are not run: the guests have no network device.")
    def one(rep, nvm):
        lab.log(f"003 round {rep}/{opts.reps}: {nvm} VM(s)")
        script = GUEST_R + (f"r stones xvbench stones --duration {dur}; "
                            f"r memstride xvbench memstride --size {size} --stride 4K --reps 3")
        try:
            names = []
            for i in range(1, int(nvm) + 1):
                n, _ = lab.start_busybox(f"s{rep}{nvm}g{i}", script, mem=mem)
                lab.xv("set", n, f"cpus={1 if i == 1 else 0}")
                names.append((f"g{i}", n))
            for g, n in names:
                lab.wait_exit(n, opts.guest_timeout)
            for g, n in names:
                rp = lab.reports(n)
                st = rp.get("stones")
                if st and st[1]:
                    add(results, nvm, rep, g, "stones", st[1]["results"]["stones_per_s"])
                ms = rp.get("memstride")
                if ms and ms[1]:
                    add(results, nvm, rep, g, "memstride", ms[1]["results"]["rep"]["median_ns"] / 1e9)
        finally:
            lab.end_config()
    each_round(lab, results, opts, opts.configs or ["1", "2", "3"], one)


# --- 001: TSC-timed loops, host vs guests, shared vs partitioned ------------
def run_001(lab, results, opts):
    reps_in = {"smoke": 3, "quick": 5, "full": 10}[opts.mode]
    results["params"].update({"regs": f"xvbench regs --reps {reps_in}",
                              "memcpy": f"xvbench memcpy --size 1M --reps {reps_in}",
                              "shared": "2 guests on host CPU 1", "partitioned": "guest 1 on CPU 0, guest 2 on CPU 1"})
    results["notes"].append("Mint itself is not run; its partitions are expressed as CPU placement "
                            "(xvsched set cpus=). The I/O part (randread on a disk per partition) is missing.")
    xvbench = os.path.join(lab.build, "bench", "xvbench")
    work = (f"r regs xvbench regs --reps {reps_in}; r memcpy xvbench memcpy --size 1M --reps {reps_in}")
    def one(rep, cfg):
        lab.log(f"001 round {rep}/{opts.reps}: {cfg}")
        if cfg == "host":
            for wl, extra in (("regs", []), ("memcpy", ["--size", "1M"])):
                r = lab.sh(["taskset", "-c", "1", xvbench, wl, *extra, "--reps", str(reps_in), "--quiet", "--json"],
                           timeout=300)
                import json as _j
                add(results, "host", rep, "h", wl, _j.loads(r.stdout)["results"]["rep"]["median_ns"])
            return
        try:
            names = []
            for i in range(1, (1 if cfg == "guest1" else 2) + 1):
                n, _ = lab.start_busybox(f"m{rep}{cfg[:1]}{i}", GUEST_R + work, mem=192)
                lab.xv("set", n, f"cpus={1 if cfg != 'partitioned' or i == 2 else 0}")
                names.append(n)
            for n in names:
                lab.wait_exit(n, opts.guest_timeout)
            rp = lab.reports(names[0])
            for wl in ("regs", "memcpy"):
                if rp.get(wl) and rp[wl][1]:
                    add(results, cfg, rep, "h", wl, rp[wl][1]["results"]["rep"]["median_ns"])
        finally:
            lab.end_config()
    each_round(lab, results, opts, opts.configs or ["host", "guest1", "shared", "partitioned"], one)


SCENARIOS = {
    "000": (run_000, "prime printing 1..N in 1, 5, 5-with-nice −20 guests; + weight, priority policy"),
    "001": (run_001, "regs/memcpy TSC-timed: host, 1 guest, 2 guests shared vs partitioned cores"),
    "002": (run_002, "§5.2 lighttpd + ab beside tripwire (Debian lab guest): equal vs idle class"),
    "003": (run_003, "stones and 1 GiB stride with 1, 2, 3 VMs (Table 2's shape)"),
    "004": (run_004, "timer jitter under kernel / kernel+I/O load, before/after RT priority"),
}
