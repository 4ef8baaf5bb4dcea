#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""xvlab paper 002 §5.5 (tools/lab/xvlab_lib/p002burst.py): the burst
report's samples, the daemon's timeline, the tables and the paper's
claims; pure (no guests)."""
import json
import os
import sys
import unittest

SRC = os.environ.get("XV_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools", "lab"))

from xvlab_lib import p002burst, report  # noqa: E402


def sample(cfg, rep, guest, metric, value):
    return {"config": cfg, "rep": rep, "guest": guest, "metric": metric, "value": value}


def row(md, label):
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == label:
            return cells
    return None


def xvbench_report(bursts):
    """An xvbench burst JSON report's results: [(burst_ms, median_ms, p95_ms, max_ms, wake_p50_ms)]."""
    return {"workload": "burst", "results": {
        "cycles": 16, "calibration": {"chunk_units": 2048, "best_chunk_ns": 1000000, "units_per_ms": 2048.0},
        "bursts": [{"burst_ns": b * 1000000, "count": 15, "response_median_ns": int(med * 1e6),
                    "response_p95_ns": int(p95 * 1e6), "response_max_ns": int(mx * 1e6),
                    "slowdown_median": med / b, "wake_latency": {"p50_ns": int(w * 1e6)}}
                   for b, med, p95, mx, w in bursts]}}


class Burst(unittest.TestCase):
    def test_samples(self):
        s = dict(p002burst.burst_samples(xvbench_report([(5, 6.0, 8.0, 9.0, 0.5), (50, 75.0, 90.0, 99.0, 1.0)])))
        self.assertEqual(s["units_per_ms"], 2048.0)
        self.assertAlmostEqual(s["b5_resp_median_ms"], 6.0)
        self.assertAlmostEqual(s["b5_resp_p95_ms"], 8.0)
        self.assertAlmostEqual(s["b50_resp_max_ms"], 99.0)
        self.assertAlmostEqual(s["b50_slowdown"], 1.5)
        self.assertAlmostEqual(s["b50_wake_median_ms"], 1.0)
        self.assertEqual(s["b5_count"], 15)
        # a broken or empty report gives nothing, not an exception
        self.assertEqual(p002burst.burst_samples(None), [])
        self.assertEqual(p002burst.burst_samples({"results": {"bursts": [{"burst_ns": 5}]}}), [])

    def test_claims(self):
        self.assertEqual(p002burst.paper_claim(5, "equal"), "never hurt (≤ ~10 ms)")
        self.assertEqual(p002burst.paper_claim(10, "prio"), "never hurt (≤ ~10 ms)")
        self.assertIsNone(p002burst.paper_claim(20, "prio"))
        self.assertIsNone(p002burst.paper_claim(50, "equal"))
        self.assertEqual(p002burst.paper_claim(50, "prio"), "favoured (> 20 ms)")

    def test_daemon_conf(self):
        c = p002burst.daemon_conf("xlS", "xlH", "/tmp/tl")
        self.assertIn("[task burst]\ndomain = short\ncomm = xvbench\npriority = 30\nburst = yes\n", c)
        self.assertIn("[task hog]\ndomain = hog\ncomm = xvbench\npriority = 30\n", c)
        self.assertIn("match = xlS\nview = agent", c)
        self.assertIn("timeline = /tmp/tl\n", c)

    def test_settled(self):
        def tick(t, bn, hn, ws, wh):
            return json.dumps({"t_ms": t, "tasks": [{"task": "burst", "nice": bn}, {"task": "hog", "nice": hn}],
                               "domains": [{"domain": "short", "weight": ws}, {"domain": "hog", "weight": wh}]})
        lines = ["not json", tick(0, None, None, 100, 100), tick(500, None, 8, 100, 25),
                 tick(1000, -20, 8, 100, 25), tick(1500, -20, 8, 100, 25), "{\"t_ms\": \"x\"}"]
        st = p002burst.settled(lines)
        self.assertEqual(st, {"settle_ms": 500.0, "nice_ms": 1000.0, "burst_nice": -20, "hog_nice": 8,
                              "w_short": 100, "w_hog": 25})
        self.assertEqual(p002burst.settled([]), {})

    def test_tables(self):
        sm = []
        # two rounds; solo 5.5/55, equal 6/150, prio 5.6/60 (round 1), doubled-ish in round 2
        for rep, k in ((1, 1.0), (2, 2.0)):
            for cfg, r5, r50 in (("burst-solo", 5.5, 55.0), ("burst-equal", 6.0, 150.0), ("burst-prio", 5.6, 60.0)):
                for metric, v in p002burst.burst_samples(xvbench_report([(5, r5 * k, r5 * k, r5 * k, 0.1),
                                                                         (50, r50 * k, r50 * k, r50 * k, 0.1)])):
                    sm.append(sample(cfg, rep, "short", metric, v))
                sm.append(sample(cfg, rep, "host", "loadavg", 1.5))
            sm.append(sample("burst-prio", rep, "short", "burst_nice", -20))
            sm.append(sample("burst-prio", rep, "short", "w_short", 100))
        data = {"paper": "002", "samples": sm, "series": []}
        md = report.render_markdown(data)
        self.assertIn("### §5.5: a 5 ms CPU burst after a 100 ms sleep", md)
        self.assertIn("### §5.5: a 50 ms CPU burst after a 100 ms sleep", md)
        # a §5.5-only run has no §5.2 table
        self.assertNotIn("§5.2", md)
        r = row(md, "50 ms: response median, alone")
        self.assertEqual(r[3], "82.5 (55.0–110.0, n=2)")
        r = row(md, "50 ms: slowdown vs solo, beside the hog, equal (no xvsched)")
        self.assertEqual(r[2], "—")
        self.assertEqual(r[3], "2.73 (2.73–2.73, n=2)")
        r = row(md, "50 ms: slowdown vs solo, beside the hog, favoured (xvsched)")
        self.assertEqual(r[2], "favoured (> 20 ms)")
        self.assertEqual(r[3], "1.09 (1.09–1.09, n=2)")
        self.assertEqual(r[4], "—")
        r = row(md, "5 ms: slowdown vs solo, beside the hog, equal (no xvsched)")
        self.assertEqual(r[2], "never hurt (≤ ~10 ms)")
        self.assertEqual(row(md, "5 ms: wake-up latency median (in the response), alone")[3], "0.10 (0.10–0.10, n=2)")
        self.assertEqual(row(md, "50 ms: favoured ÷ equal")[3], "0.40 (0.40–0.40, n=2)")
        self.assertEqual(row(md, "50 ms: response ÷ burst, alone")[3], "1.65 (1.10–2.20, n=2)")
        self.assertEqual(row(md, "burst-prio: burst task's nice (last tick)")[2:4], ["−20", "-20.0 (-20.0–-20.0, n=2)"])
        self.assertEqual(row(md, "burst-solo: host load (1-min average)")[3], "1.50 (1.50–1.50, n=2)")
        labels = [b["label"] for b in p002burst.figures(data)[0]["bars"]]
        self.assertEqual(labels, ["5 ms solo", "5 ms equal", "5 ms prio", "50 ms solo", "50 ms equal", "50 ms prio"])

    def test_figure_without_paper_numbers(self):
        """The paper gives no §5.5 figures: the bar plot has no 'paper'
        series (gnuplot failed on an all-NaN column: 'No valid points')."""
        sm = [sample("burst-solo", 1, "short", "b5_resp_median_ms", 6.0),
              sample("burst-solo", 1, "short", "b5_slowdown", 1.2)]
        f = p002burst.figures({"samples": sm})[0]
        script, dat = report.figure_script(f, "svg", "fig-5-5.svg")
        self.assertNotIn("title 'paper'", script)
        self.assertIn('"5 ms solo" 1.2 1.2 1.2 NaN', dat)
        f["bars"][0]["paper"] = 1.0
        self.assertIn("title 'paper'", report.figure_script(f, "svg", "x.svg")[0])

    def test_beside_5_2(self):
        """A run with §5.2 and §5.5 has both; one without burst configs has no §5.5 table."""
        sm = [sample("solo", 1, "same", "rps", 200.0), sample("equal", 1, "same", "rps", 100.0)]
        md = report.render_markdown({"paper": "002", "samples": sm, "series": []})
        self.assertNotIn("§5.5", md)
        sm += [sample("burst-solo", 1, "short", "b20_resp_median_ms", 21.0)]
        md = report.render_markdown({"paper": "002", "samples": sm, "series": []})
        self.assertIn("§5.2", md)
        self.assertEqual(row(md, "20 ms: response median, alone")[3], "21.0 (n=1)")


class FakeLab:
    """What p002burst.run asks of runner.Lab, recorded."""

    def __init__(self, out, report_ok=True):
        self.out = out
        self.calls = []
        self.report_ok = report_ok
        self.scripts = {}

    def log(self, msg):
        pass

    def start_busybox(self, tag, script, agent=False, mem=None, **kw):
        n = "xl" + tag
        self.scripts[n] = script
        self.calls.append(("start", n, agent))
        return n, 1

    def xv(self, *args, **kw):
        self.calls.append(("xv",) + args)

    def qmp_all(self, names, cmd):
        self.calls.append(("qmp", cmd, tuple(names)))

    def daemon(self, conf, tag, cpus=None):
        self.calls.append(("daemon", tag, cpus))
        tl = [ln.split(" = ", 1)[1] for ln in conf.splitlines() if ln.startswith("timeline = ")][0]
        with open(tl, "w") as f:
            f.write(json.dumps({"t_ms": 700, "tasks": [{"task": "burst", "nice": -20}, {"task": "hog", "nice": 8}],
                                "domains": [{"domain": "short", "weight": 100}, {"domain": "hog", "weight": 25}]})
                    + "\n")
        return "dproc", "state"

    def end(self, p):
        self.calls.append(("end", p))

    def wait_exit(self, n, timeout):
        self.calls.append(("wait_exit", n))

    def reports(self, n):
        if not self.report_ok:
            return {}
        return {"burst": (0, xvbench_report([(5, 6.0, 7.0, 8.0, 0.2), (50, 60.0, 70.0, 80.0, 0.2)]))}

    def keep_console(self, n, dest):
        self.calls.append(("keep_console", n))

    def end_config(self):
        self.calls.append(("end_config",))


class Opts:
    mode = "smoke"
    reps = 1
    host_cpu = "1"
    guest_timeout = 60

    def __init__(self, configs):
        self.configs = configs


class Run(unittest.TestCase):
    def run_one(self, configs, report_ok=True):
        import tempfile
        from xvlab_lib import scenarios
        import shutil
        tmp = tempfile.mkdtemp(prefix="test-p002burst.")
        self.addCleanup(shutil.rmtree, tmp, True)
        lab = FakeLab(tmp, report_ok)
        results = {"params": {}, "notes": [], "samples": [], "series": []}
        p002burst.run(lab, results, Opts(configs), lambda lab, names, t: lab.calls.append(("pause", tuple(names))),
                      scenarios.each_round, "0")
        return lab, results

    def test_prio(self):
        lab, res = self.run_one(["burst-prio"])
        kinds = [c[0] for c in lab.calls]
        # two guests with agents, both pinned to the one CPU, paused, resumed, then the daemon
        self.assertEqual([c for c in lab.calls if c[0] == "start"], [("start", "xls12", True), ("start", "xlh12", True)])
        self.assertIn(("xv", "set", "xls12", "cpus=1"), lab.calls)
        self.assertIn(("xv", "set", "xlh12", "cpus=1"), lab.calls)
        self.assertLess(kinds.index("pause"), kinds.index("qmp"))
        self.assertLess(kinds.index("qmp"), kinds.index("daemon"))
        self.assertEqual(lab.calls[kinds.index("daemon")][2], "0")       # pinned off the guests' CPU
        self.assertEqual(kinds[-1], "end_config")
        self.assertIn("r burst xvbench burst --burst 5ms,10ms,20ms,50ms --sleep 100ms", lab.scripts["xls12"])
        self.assertIn("xvbench load cpu", lab.scripts["xlh12"])
        m = {s["metric"]: s["value"] for s in res["samples"] if s["guest"] == "short"}
        self.assertEqual(m["b50_resp_median_ms"], 60.0)
        self.assertEqual(m["burst_nice"], -20)
        self.assertEqual(m["w_hog"], 25)
        self.assertIn("settle_s", m)
        self.assertIn("nice_s", m)
        self.assertIn("--warmup 4", lab.scripts["xls12"])
        self.assertTrue(any(s["guest"] == "host" and s["metric"] == "loadavg" for s in res["samples"]))

    def test_solo_and_failure(self):
        lab, res = self.run_one(["burst-solo"])
        self.assertEqual(len([c for c in lab.calls if c[0] == "start"]), 1)
        self.assertNotIn("daemon", [c[0] for c in lab.calls])
        # no report: noted as a failed configuration, console kept, torn down, the run goes on
        lab, res = self.run_one(["burst-solo", "burst-equal"], report_ok=False)
        self.assertEqual([f["config"] for f in res["failed"]], ["burst-solo", "burst-equal"])
        self.assertEqual([c[0] for c in lab.calls].count("end_config"), 2)
        self.assertEqual([c[0] for c in lab.calls].count("keep_console"), 2)

    def test_unknown(self):
        from xvlab_lib.runner import LabError
        with self.assertRaises(LabError):
            self.run_one(["burst-fast"])


if __name__ == "__main__":
    unittest.main(verbosity=1)
