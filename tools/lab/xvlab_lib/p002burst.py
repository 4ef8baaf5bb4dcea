# SPDX-License-Identifier: GPL-2.0-or-later
"""Paper 002 §5.5: favouring a short-running process (it sleeps, then uses
a little CPU) over a CPU hog in another VM on the same physical CPU.

The paper (Xen): the short process's domain at WEIGHT 256, the other at
64; its nice -20, the others' 19; one physical CPU.  Favoured when its
CPU burst is > 20 ms; below ~10 ms it was never hurt (Linux wakes sleepers
first).  No run-queue manipulation needed.

Ours: two busybox guests pinned to one host CPU.  VM `short` runs
`xvbench burst --burst 5ms,10ms,20ms,50ms --sleep 100ms` (one process,
each length once per cycle); VM `hog` runs `xvbench load cpu`.
  burst-solo    short alone
  burst-equal   both, no xvsched
  burst-prio    both, `xvsched run` with the paper's setting in its own
                config language: the burst task `burst = yes` (its domain's
                weight x4, its nice -20, the domain's other tasks nice 19)
                and both tasks at priority 30, so short's domain is at the
                default weight 100 and hog's at 25 (the paper's 256:64,
                with Xen's default 256 as ours 100)."""
import json
import os
import time

from . import stats as S
from .runner import GUEST_R, LabError, add_sample as _add, loadavg as _loadavg

CONFIGS = ["burst-solo", "burst-equal", "burst-prio"]
BURSTS_MS = [5, 10, 20, 50]
SLEEP_MS = 100
PRIORITY = 30           # both tasks: weight 100 x 2^((30-50)/10) = 25; burst x4 = 100
INTERVAL = "500ms"      # the paper's default interval
SETTLE_QUICK = 8        # guest seconds from the resume to the first burst (the daemon's first ticks)
WARMUP = 4              # cycles not recorded: the daemon renices xvbench burst once it runs

LABELS = {"burst-solo": "alone", "burst-equal": "beside the hog, equal (no xvsched)",
          "burst-prio": "beside the hog, favoured (xvsched)"}


def is_config(cfg):
    return cfg in CONFIGS


def paper_claim(burst_ms, what):
    """The paper's qualitative claim for a burst length: what is
    'equal' (beside the hog, no favouring) or 'prio' (favoured)."""
    if burst_ms <= 10:
        return "never hurt (≤ ~10 ms)"
    if burst_ms > 20 and what == "prio":
        return "favoured (> 20 ms)"
    return None


def daemon_conf(short, hog, timeline, interval=INTERVAL, priority=PRIORITY):
    """The daemon's config for burst-prio (pure)."""
    return (f"[daemon]\ninterval = {interval}\ntimeline = {timeline}\n\n"
            f"[domain short]\nmatch = {short}\nview = agent\n\n"
            f"[domain hog]\nmatch = {hog}\nview = agent\n\n"
            f"[task burst]\ndomain = short\ncomm = xvbench\npriority = {priority}\nburst = yes\n\n"
            f"[task hog]\ndomain = hog\ncomm = xvbench\npriority = {priority}\n")


def settled(lines, want_nice=-20):
    """From the daemon's timeline (one JSON object a line): the first t_ms
    where VM short's weight was above VM hog's ("settle_ms"), the first
    where the burst task's nice was want_nice ("nice_ms"; it exists only
    once xvbench burst runs), and the last tick's nices and domain weights
    ("burst_nice", "hog_nice", "w_short", "w_hog"); keys are missing where
    the timeline did not say."""
    out = {}
    for ln in lines:
        try:
            o = json.loads(ln)
            tms = float(o["t_ms"])
            tasks = {x.get("task"): x for x in o.get("tasks", []) if isinstance(x, dict)}
            doms = {x.get("domain"): x for x in o.get("domains", []) if isinstance(x, dict)}
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        b, h = tasks.get("burst") or {}, tasks.get("hog") or {}
        if "nice_ms" not in out and b.get("nice") == want_nice:
            out["nice_ms"] = tms
        ws, wh = (doms.get("short") or {}).get("weight"), (doms.get("hog") or {}).get("weight")
        if ("settle_ms" not in out and isinstance(ws, (int, float)) and isinstance(wh, (int, float))
                and ws > wh):
            out["settle_ms"] = tms
        for key, v in (("burst_nice", b.get("nice")), ("hog_nice", h.get("nice")),
                       ("w_short", (doms.get("short") or {}).get("weight")),
                       ("w_hog", (doms.get("hog") or {}).get("weight"))):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[key] = v
    return out


def burst_samples(report):
    """xvbench burst's JSON report -> [(metric, value)] (pure)."""
    out = []
    res = (report or {}).get("results") or {}
    cal = res.get("calibration") or {}
    if isinstance(cal.get("units_per_ms"), (int, float)):
        out.append(("units_per_ms", cal["units_per_ms"]))
    for e in res.get("bursts") or []:
        try:
            ms = int(round(e["burst_ns"] / 1e6))
            if not e.get("count"):
                continue
            out += [(f"b{ms}_resp_median_ms", e["response_median_ns"] / 1e6),
                    (f"b{ms}_resp_p95_ms", e["response_p95_ns"] / 1e6),
                    (f"b{ms}_resp_max_ms", e["response_max_ns"] / 1e6),
                    (f"b{ms}_slowdown", e["slowdown_median"]),
                    (f"b{ms}_wake_median_ms", e["wake_latency"]["p50_ns"] / 1e6),
                    (f"b{ms}_count", e["count"])]
        except (KeyError, TypeError, ValueError):
            continue
    return out


def run(lab, results, opts, pause_when_ready, each_round, daemon_cpus):
    configs = opts.configs
    bad = [c for c in configs if c not in CONFIGS]
    if bad:
        raise LabError(f"002 §5.5: unknown configuration(s) {', '.join(bad)} (known: {', '.join(CONFIGS)})")
    loops = {"smoke": 3, "quick": 15, "full": 100}[opts.mode]
    settle = {"smoke": 4, "quick": SETTLE_QUICK, "full": 15}[opts.mode]
    cpu = opts.host_cpu
    bursts = ",".join(f"{b}ms" for b in BURSTS_MS)
    results["params"].update({
        "burst": f"xvbench burst --burst {bursts} --sleep {SLEEP_MS}ms --loops {loops} --warmup {WARMUP} (each "
                 f"length once per cycle; a calibrated fixed amount of work), {settle} s after the resume",
        "burst_hog": "xvbench load cpu in VM hog",
        "burst_guests": "busybox, 1 vCPU, 128 MiB, xvagent running (every configuration), both pinned to "
                        "host CPU " + str(cpu),
        "burst_prio": f"xvsched run: task burst (short) burst = yes, both tasks priority {PRIORITY} "
                      f"(domain weights {4 * 25}:25 = the paper's 256:64), view agent, interval {INTERVAL}; "
                      f"pinned to host CPU(s) {daemon_cpus or 'any'}",
        "burst_configs": ", ".join(configs)})
    results["notes"].append(
        "§5.5: the response is from the wake-up the burst process asked for (the end of its 100 ms sleep) "
        "to the end of its burst; a burst is a fixed amount of work calibrated in the guest to take its "
        "length (xvbench burst --measure work), so the host running the other VM lengthens it (a guest's "
        "CPU clock cannot see that). Slowdown vs solo is paired per round.")
    results["notes"].append(
        "§5.5 burst-prio: xvsched ties in-guest nice to priority, so the hog runs at nice "
        f"{8 if PRIORITY == 30 else '?'} (priority {PRIORITY}), not the paper's 19; it is the only busy "
        "process in its guest, where its nice only orders it against the idle agent and shell. The burst "
        "task runs at nice -20 (burst = yes) as in the paper, from the daemon's first tick after it started "
        f"(the first {WARMUP} cycles are not recorded); it too is the only busy process in its guest. What "
        "favours it across the VMs is the domain weight.")
    xvbench_args = f"xvbench burst --burst {bursts} --sleep {SLEEP_MS}ms --loops {loops} --warmup {WARMUP}"

    def one(rep, cfg):
        lab.log(f"002 §5.5 round {rep}/{opts.reps}: {cfg}")
        hog = cfg != "burst-solo"
        prio = cfg == "burst-prio"
        short_script = (GUEST_R + f"echo XVLAB-READY; sleep 5; sleep {settle}; r burst {xvbench_args}")
        hog_script = "echo XVLAB-READY; sleep 5; exec xvbench load cpu --duration 86400 --quiet"
        dproc = None
        tl = None
        try:
            i = CONFIGS.index(cfg)
            short, _ = lab.start_busybox(f"s{rep}{i}", short_script, agent=True, mem=128)
            lab.xv("set", short, f"cpus={cpu}")
            names = [short]
            if hog:
                hogn, _ = lab.start_busybox(f"h{rep}{i}", hog_script, agent=True, mem=128)
                lab.xv("set", hogn, f"cpus={cpu}")
                names.append(hogn)
            pause_when_ready(lab, names, opts.guest_timeout)
            lab.qmp_all(names, "cont")
            t_go = time.monotonic()
            if prio:
                # After the resume: a view opened on a paused guest times out.
                tl = os.path.join(lab.out, f"002-{cfg}-r{rep}.timeline.jsonl")
                dproc, _ = lab.daemon(daemon_conf(short, hogn, tl), f"002-{cfg}-r{rep}", cpus=daemon_cpus)
                t_daemon = time.monotonic() - t_go
            lab.wait_exit(short, opts.guest_timeout)
            if dproc is not None:
                lab.end(dproc)
                dproc = None
            rpt = lab.reports(short).get("burst")
            if not rpt or rpt[0] != 0 or not rpt[1]:
                lab.keep_console(short, os.path.join(lab.out, f"console-{cfg}-{rep}.txt"))
                raise LabError(f"{cfg}: no burst report from VM short (console kept)")
            for metric, v in burst_samples(rpt[1]):
                _add(results, cfg, rep, "short", metric, v)
            if tl:
                try:
                    with open(tl, encoding="utf-8", errors="replace") as f:
                        st = settled(f.read(16 << 20).splitlines()[:200000])
                except OSError:
                    st = {}
                # seconds after the guests resumed; the bursts began `settle` guest-seconds after it
                for k in ("settle", "nice"):
                    if k + "_ms" in st:
                        st[k + "_s"] = round(t_daemon + st.pop(k + "_ms") / 1000.0, 2)
                if st.get("settle_s", 0) > settle:
                    results["notes"].append(
                        f"{cfg} round {rep}: VM short's weight rose above VM hog's {st['settle_s']} s after "
                        f"the resume, after the bursts began ({settle} s)")
                for k, v in st.items():
                    _add(results, cfg, rep, "short", k, v)
        finally:
            _add(results, cfg, rep, "host", "loadavg", _loadavg())
            if dproc is not None:
                lab.end(dproc)
            lab.end_config()
    each_round(lab, results, opts, configs, one)


# --- report -----------------------------------------------------------------
def _row(label, paper, ours, unit):
    return {"label": label, "paper": paper, "ours": ours, "unit": unit}


def _lengths(sm):
    """The burst lengths (ms) the samples hold, ascending."""
    out = set()
    for s in sm:
        m = str(s.get("metric", ""))
        if s.get("config") in CONFIGS and m.startswith("b") and m.endswith("_resp_median_ms"):
            try:
                out.add(int(m[1:-len("_resp_median_ms")]))
            except ValueError:
                pass
    return sorted(out)


def has_data(data):
    return any(s.get("config") in CONFIGS for s in data.get("samples", []))


def tables(data):
    sm = [s for s in data.get("samples", []) if s.get("config") in CONFIGS]
    if not sm:
        return []
    out = []
    for ms in _lengths(sm):
        m = f"b{ms}_resp_median_ms"
        rows = []
        for cfg in CONFIGS:
            st = S.summarize(S.select(sm, cfg, "short", m))
            if st:
                rows.append(_row(f"{ms} ms: response median, {LABELS[cfg]}", None, st, "ms"))
        for cfg in CONFIGS:
            st = S.summarize(S.select(sm, cfg, "short", f"b{ms}_resp_p95_ms"))
            if st:
                rows.append(_row(f"{ms} ms: response p95, {LABELS[cfg]}", None, st, "ms"))
        for cfg in CONFIGS:
            st = S.summarize(S.select(sm, cfg, "short", f"b{ms}_wake_median_ms"))
            if st:
                rows.append(_row(f"{ms} ms: wake-up latency median (in the response), {LABELS[cfg]}", None, st,
                                 "ms"))
        for cfg, what in (("burst-equal", "equal"), ("burst-prio", "prio")):
            v = S.paired(sm, "burst-solo", cfg, "short", m, lambda a, b: b / a)
            if v:
                rows.append(_row(f"{ms} ms: slowdown vs solo, {LABELS[cfg]}", paper_claim(ms, what),
                                 S.summarize(v), "× solo"))
        v = S.paired(sm, "burst-equal", "burst-prio", "short", m, lambda a, b: b / a)
        if v:
            rows.append(_row(f"{ms} ms: favoured ÷ equal", "< 1 (> 20 ms)" if ms > 20 else None,
                             S.summarize(v), "×"))
        for cfg in CONFIGS:
            st = S.summarize(S.select(sm, cfg, "short", f"b{ms}_slowdown"))
            if st:
                rows.append(_row(f"{ms} ms: response ÷ burst, {LABELS[cfg]}", None, st, "×"))
        out.append({"title": f"§5.5: a {ms} ms CPU burst after a {SLEEP_MS} ms sleep",
                    "note": "Response: from the end of the sleep to the end of the burst, median over the "
                            "bursts of one run; then median (min–max, n) over rounds. Slowdown vs solo: "
                            "paired per round. Paper (no figures, qualitative): favoured when the burst is "
                            "> 20 ms; below ~10 ms never hurt, even beside the other domain (Linux wakes "
                            "sleepers first).",
                    "rows": rows})
    setup = []
    for cfg in CONFIGS:
        for metric, label, unit in (("units_per_ms", "calibrated work units per ms (guest)", "units/ms"),
                                    ("settle_s", "VM short's weight above VM hog's, after the resume "
                                                 f"(bursts from {SETTLE_QUICK} s in --quick)", "s"),
                                    ("nice_s", "burst task at nice −20, after the resume", "s"),
                                    ("burst_nice", "burst task's nice (last tick)", "nice"),
                                    ("hog_nice", "hog's nice (last tick)", "nice"),
                                    ("w_short", "VM short's weight (last tick)", "weight"),
                                    ("w_hog", "VM hog's weight (last tick)", "weight")):
            st = S.summarize(S.select(sm, cfg, "short", metric))
            if st:
                paper = {"burst_nice": "−20", "hog_nice": "19", "w_short": "256", "w_hog": "64"}.get(metric)
                setup.append(_row(f"{cfg}: {label}", paper, st, unit))
        st = S.summarize(S.select(sm, cfg, "host", "loadavg"))
        if st:
            setup.append(_row(f"{cfg}: host load (1-min average)", None, st, "load"))
    if setup:
        out.append({"title": "§5.5: the setting and the machine",
                    "note": "The calibration shows how fast the guest ran the burst's work in each "
                            "configuration (it is the fastest of 30 chunks, so the hog should not move it "
                            "much). Weights: the paper's are Xen credit WEIGHTs (default 256), ours cgroup "
                            "weights (default 100); the ratio is what compares. Host load: the 1-minute "
                            "average when each measurement ended (2 CPUs, other work included).",
                    "rows": setup})
    return out


def figures(data):
    sm = [s for s in data.get("samples", []) if s.get("config") in CONFIGS]
    bars = []
    for ms in _lengths(sm):
        for cfg in CONFIGS:
            st = S.summarize(S.select(sm, cfg, "short", f"b{ms}_slowdown"))
            if st:
                bars.append({"label": f"{ms} ms {cfg[len('burst-'):]}", "ours": st, "paper": None})
    if not bars:
        return []
    return [{"name": "fig-5-5", "title": "§5.5: response ÷ burst (median), alone / equal / favoured",
             "kind": "bars", "bars": bars, "ylabel": "response ÷ burst"}]
