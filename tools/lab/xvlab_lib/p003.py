# SPDX-License-Identifier: GPL-2.0-or-later
"""Paper 003 (real-time Linux on KVM): the scenario and its report.

Configurations:
  rt       one VM (guest 1, host CPU 1, a NIC on QEMU's user-mode network):
           periodic and one-shot timer response (10 ms, SCHED_FIFO 90 in the
           guest), then the network ACK response (20 processes send a byte
           to the peer, the host, and time its reply), each without load and
           with `stress` in the VM (xvbench load cpu + vm + io) and a
           netperf-like TCP_RR flood from the peer (the host) to the VM.
           Samples under configs rt-noload and rt-load.
  1, 2, 3  isolation (Table 2): 1, 2, 3 VMs booted, paused at READY and
           resumed together; each runs stones, the 4 KiB-stride memory write
           and TCP_RR to the peer (the host) one after the other.
The peer is an `xvbench rr server` on the host, on CPU 0, reached from each
guest as 10.0.2.2 (slirp's address for the host)."""
import os
import socket
import time

from . import stats as S
from .runner import GUEST_R, LabError, add_sample as _add, loadavg, pause_when_ready as _pause_when_ready

CONFIGS = ["rt", "1", "2", "3"]

# The paper's figures (../shared/docs/papers.md; the paper's section 4).
P_TIMER = {("periodic", "noload"): 0.016, ("oneshot", "noload"): 0.048,
           ("periodic", "load"): 21.8, ("oneshot", "load"): 6.7}
P_ACK_MAX = 15.864
P_TABLE2 = {"stones": (11750881, {"2": 99.88, "3": 99.88}),
            "memstride": (21.331, {"2": 99.43, "3": 99.87}),
            "tcprr": (1816.7, {"2": 90.01, "3": 98.75})}

def free_port():
    """A TCP port that is free on 127.0.0.1 now (QEMU or the server binds it
    next; a race with another process only fails that configuration)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_marker(lab, n, marker, timeout):
    """Until the guest's console has a line MARKER (or it exits)."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if "\n" + marker + "\n" in lab.read_console(n)[-(1 << 20):]:
            return True
        if "\nXV-EXIT " in lab.read_console(n)[-4096:]:
            return False
        time.sleep(0.2)
    return False


def _lat(results, cfg, rep, metric, rpt):
    """max, p99, mean (ms) and the count of one latency report."""
    if not rpt or not rpt[1]:
        return False
    lat = rpt[1]["results"].get("latency") or {}
    if not lat.get("count"):
        return False
    _add(results, cfg, rep, "g1", metric + "_max_ms", lat["max_ns"] / 1e6)
    _add(results, cfg, rep, "g1", metric + "_p99_ms", lat["p99_ns"] / 1e6)
    _add(results, cfg, rep, "g1", metric + "_mean_ms", lat["mean_ns"] / 1e6)
    _add(results, cfg, rep, "g1", metric + "_count", lat["count"])
    return True


def run(lab, results, opts):
    mode = opts.mode
    dur = opts.duration or {"smoke": 2, "quick": 8, "full": 60}[mode]
    size = {"smoke": "64M", "quick": "256M", "full": "1G"}[mode]
    mem = {"smoke": 192, "quick": 384, "full": 1300}[mode]
    configs = opts.configs or (["rt", "1"] if mode == "smoke" else CONFIGS)
    bad = [c for c in configs if c not in CONFIGS]
    if bad:
        raise LabError(f"003: unknown configuration(s) {', '.join(bad)} (known: {', '.join(CONFIGS)})")
    xvbench = os.path.join(lab.build, "bench", "xvbench")
    peer_port = free_port()
    results["params"].update({
        "timer": f"xvbench timer --mode periodic|oneshot --interval 10ms --prio 90 --duration {dur} (in guest 1)",
        "ack": f"xvbench rr ack --procs 20 --interval 10ms --duration {dur} from guest 1 to the host (10.0.2.2)",
        "stress": f"in the VM: xvbench load cpu + load vm --bytes 32M + load io --dir /tmp (stress's cpu/vm/io)",
        "net_load": "from the peer (the host, CPU 0): xvbench rr client --procs 2 to the VM's forwarded port (netperf)",
        "stones": f"xvbench stones --duration {dur}",
        "memstride": f"xvbench memstride --size {size} --stride 4K --reps 3 (median of 3 passes)",
        "tcprr": f"xvbench rr client --duration {dur} from each VM to the host (netperf TCP_RR, 1-byte)",
        "network": "QEMU user-mode network (tools/vm/vm start --net user): slirp in QEMU's I/O thread, no vhost",
        "peer": f"xvbench rr server on the host, CPU 0, 127.0.0.1:{peer_port} = the guests' 10.0.2.2",
        "placement": "guest 1 on host CPU 1; guests 2 and 3, the peer and the host's network load on CPU 0 "
                     "(a 2-core host has no 2 dedicated cores per VM: the paper's 3 VMs had 6)",
        "guest_mem_mib": mem,
        "configs": ", ".join(configs)})
    results["notes"].append(
        "Placement forced by the 2-core host: only guest 1 has a core of its own (CPU 1, all its QEMU "
        "threads); guests 2 and 3 share CPU 0 with the peer (the host's rr server) and the rest of the "
        "machine. The paper gave each VM 2 dedicated cores and 2 NIC ports to a separate peer machine.")
    results["notes"].append(
        "The network is QEMU's user-mode network: every packet goes through QEMU's main-loop (I/O) "
        "thread, the contention the paper blames for its timer and network delays; no vhost-net, no "
        "physical NIC, and the peer is on the same host.")
    peer = lab.spawn(["taskset", "-c", "0", xvbench, "rr", "server", "--host", "127.0.0.1",
                      "--port", str(peer_port), "--quiet"], "peer-rr-server")
    results["machine"]["load per configuration"] = "samples 'loadavg' (1-min, at the end of each)"

    def one(rep, cfg):
        lab.log(f"003 round {rep}/{opts.reps}: {cfg}")
        if peer.poll() is not None:
            raise LabError(f"the peer's rr server exited ({peer.returncode})")
        try:
            if cfg == "rt":
                _one_rt(lab, results, opts, rep, dur, peer_port, xvbench)
            else:
                _one_iso(lab, results, opts, rep, cfg, dur, size, mem, peer_port)
        finally:
            _add(results, cfg, rep, "host", "loadavg", loadavg())
            lab.end_config()

    for rep in range(1, opts.reps + 1):
        for c in configs:
            try:
                one(rep, c)
            except LabError as e:
                lab.log(f"round {rep}, {c}: {e} (going on with the next)")
                results["notes"].append(f"round {rep}, configuration {c} failed: {e}")
                results.setdefault("failed", []).append({"rep": rep, "config": c, "error": str(e)})
    lab.end(peer)


def _one_rt(lab, results, opts, rep, dur, peer_port, xvbench):
    fwd = free_port()
    ld = 3 * dur + 60
    def phase(sfx):
        return ("".join(f"r {m}-{sfx} xvbench timer --mode {m} --interval 10ms --prio 90 --duration {dur}; "
                        for m in ("periodic", "oneshot"))
                + f"r ack-{sfx} xvbench rr ack --host 10.0.2.2 --port {peer_port} --procs 20 --interval 10ms "
                  f"--duration {dur} --connect-timeout 30s; ")
    # Guest 1 serves the peer's network load on 7781 (forwarded from the
    # host); `poweroff -f` after the script ends the background loads.
    script = (GUEST_R
              + "xvbench rr server --port 7781 --quiet & "
              + "echo XVLAB-READY; sleep 3; "
              + phase("noload")
              + f"xvbench load cpu --duration {ld} --quiet & xvbench load vm --bytes 32M --duration {ld} --quiet & "
              + f"xvbench load io --dir /tmp --duration {ld} --quiet & "
              + "echo; echo XVLAB-LOAD-ON; sleep 3; "
              + phase("load")
              + "echo; echo XVLAB-LOAD-OFF")
    n, _ = lab.start_busybox(f"r{rep}", script, mem=256, extra=["--net", f"user,fwd=tcp:{fwd}:7781"])
    lab.xv("set", n, "cpus=1")
    net = None
    try:
        if not _wait_marker(lab, n, "XVLAB-LOAD-ON", opts.guest_timeout):
            raise LabError("guest 1 never reached its load phase")
        net = lab.spawn(["taskset", "-c", "0", xvbench, "rr", "client", "--host", "127.0.0.1", "--port", str(fwd),
                         "--procs", "2", "--duration", str(opts.guest_timeout), "--connect-timeout", "30s",
                         "--quiet"], "net-load")
        lab.wait_exit(n, opts.guest_timeout)
    finally:
        if net is not None:
            lab.end(net)
    rp = lab.reports(n)
    got = 0
    for phase in ("noload", "load"):
        for m in ("periodic", "oneshot", "ack"):
            got += _lat(results, f"rt-{phase}", rep, m, rp.get(f"{m}-{phase}"))
    if got < 6:
        lab.keep_console(n, os.path.join(lab.out, f"console-rt-{rep}.txt"))
        results["notes"].append(f"rt round {rep}: {6 - got} of 6 reports missing (console kept)")


def _one_iso(lab, results, opts, rep, nvm, dur, size, mem, peer_port):
    script = (GUEST_R + "echo XVLAB-READY; sleep 5; "
              f"r stones xvbench stones --duration {dur}; "
              f"r memstride xvbench memstride --size {size} --stride 4K --reps 3; "
              f"r tcprr xvbench rr client --host 10.0.2.2 --port {peer_port} --duration {dur} --connect-timeout 30s")
    names = []
    for i in range(1, int(nvm) + 1):
        n, _ = lab.start_busybox(f"i{rep}{nvm}g{i}", script, mem=mem, extra=["--net", "user"])
        lab.xv("set", n, f"cpus={1 if i == 1 else 0}")
        names.append((f"g{i}", n))
    # Boots are kept out of the measurement: each guest is paused at READY
    # and all resume together.
    _pause_when_ready(lab, [n for _, n in names], opts.guest_timeout)
    lab.qmp_all([n for _, n in names], "cont")
    for g, n in names:
        lab.wait_exit(n, opts.guest_timeout)
    for g, n in names:
        rp = lab.reports(n)
        st = rp.get("stones")
        if st and st[1]:
            _add(results, nvm, rep, g, "stones", st[1]["results"]["stones_per_s"])
        ms = rp.get("memstride")
        if ms and ms[1]:
            _add(results, nvm, rep, g, "memstride", ms[1]["results"]["rep"]["median_ns"] / 1e9)
        rr = rp.get("tcprr")
        if rr and rr[1]:
            _add(results, nvm, rep, g, "tcprr", rr[1]["results"]["transactions_per_s"])


# --- report -----------------------------------------------------------------
def _row(label, paper, ours, unit):
    return {"label": label, "paper": paper, "ours": ours, "unit": unit}


def _load_note(sm, cfgs):
    st = S.summarize([v for c in cfgs for v in S.select(sm, c, "host", "loadavg")])
    return f"host load (1-min average at the end of each run) {S.fmt_stat(st, 1)}" if st else "host load not recorded"


def tables(data):
    sm = data.get("samples", [])
    rt = []
    for phase, what in (("noload", "no load"), ("load", "stress in the VM + network load")):
        for m, name in (("periodic", "periodic timer (10 ms)"), ("oneshot", "one-shot timer (10 ms)")):
            rt.append(_row(f"{name}, {what}: max delay", P_TIMER[(m, phase)],
                           S.summarize(S.select(sm, f"rt-{phase}", "g1", f"{m}_max_ms")), "ms"))
            rt.append(_row(f"{name}, {what}: 99th percentile", None,
                           S.summarize(S.select(sm, f"rt-{phase}", "g1", f"{m}_p99_ms")), "ms"))
        rt.append(_row(f"network ACK response (20 processes), {what}: max", P_ACK_MAX if phase == "noload" else None,
                       S.summarize(S.select(sm, f"rt-{phase}", "g1", "ack_max_ms")), "ms"))
        rt.append(_row(f"network ACK response, {what}: 99th percentile", "< 3 (most)" if phase == "noload" else None,
                       S.summarize(S.select(sm, f"rt-{phase}", "g1", "ack_p99_ms")), "ms"))
        rt.append(_row(f"network ACK response, {what}: mean", None,
                       S.summarize(S.select(sm, f"rt-{phase}", "g1", "ack_mean_ms")), "ms"))
    rt.append(_row("host load during these runs", None,
                   S.summarize(S.select(sm, "rt", "host", "loadavg")), "1-min avg"))
    t2 = []
    size = (data.get("params", {}).get("memstride", "") or "").split("--size ")[-1].split()[0:1]
    for metric, label, unit in (("stones", "CPU: stones", "stones/s"),
                                ("memstride", f"memory: {size[0] if size else ''} written at 4 KiB stride", "s"),
                                ("tcprr", "network: TCP_RR", "trans/s")):
        one, pct = P_TABLE2[metric]
        t2.append(_row(f"{label}, 1 VM", one, S.summarize(S.select(sm, "1", "g1", metric)), unit))
        for n in ("2", "3"):
            t2.append(_row(f"{label}, {n} VMs, guest 1 as % of 1 VM", pct[n],
                           S.summarize(S.paired(sm, "1", n, "g1", metric, S.ratio_pct)), "%"))
    for n in ("2", "3"):
        for g in [f"g{i}" for i in range(2, int(n) + 1)]:
            t2.append(_row(f"network: TCP_RR, {n} VMs, guest {g[1:]} (shares CPU 0)", None,
                           S.summarize(S.select(sm, n, g, "tcprr")), "trans/s"))
    for n in ("1", "2", "3"):
        t2.append(_row(f"host load during the {n}-VM runs", None,
                       S.summarize(S.select(sm, n, "host", "loadavg")), "1-min avg"))
    return [{"title": "Timer and network response in guest 1 (Figures 4-5)",
             "note": "Paper: RedHawk host and guest, 2 dedicated cores, bonded NIC ports to a peer machine; "
                     "delay with no load 16 µs (periodic) / 48 µs (one-shot), with stress + netperf ~21.8 ms / "
                     "~6.7 ms; ACK response mostly < 3 ms, max 15.864 ms. Ours: Debian's stock kernel in a "
                     "busybox guest under TCG on a shared 2-core host, the guest's own SCHED_FIFO 90; "
                     "the peer is the host over QEMU's user-mode network. " + _load_note(sm, ["rt"]) + ".",
             "rows": rt},
            {"title": "Table 2: isolation with 1, 2, 3 VMs",
             "note": "Paper: each VM on 2 dedicated cores, 2 GB. Here guest 1 has CPU 1 to itself and guests "
                     "2-3 share CPU 0 (see Parameters); guest 1's figure with 2 and 3 VMs is paired with the "
                     "1-VM run of the same round. " + _load_note(sm, ["1", "2", "3"]) + ".",
             "rows": t2}]


def figures(data):
    sm = data.get("samples", [])
    bars = []
    for phase in ("noload", "load"):
        for m in ("periodic", "oneshot", "ack"):
            st = S.summarize(S.select(sm, f"rt-{phase}", "g1", f"{m}_max_ms"))
            if st:
                paper = P_TIMER.get((m, phase)) if m != "ack" else (P_ACK_MAX if phase == "noload" else None)
                bars.append({"label": f"{m}-{phase}", "ours": st, "paper": paper})
    if not bars:
        return []
    return [{"name": "fig-response", "title": "Max timer and ACK response delay in guest 1 (paper 003 Figs 4-5)",
             "kind": "bars", "bars": bars, "ylabel": "ms", "log": True}]
