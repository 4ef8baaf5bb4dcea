#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""xvlab's statistics and report code: pure, JSON in -> Markdown out.
No guest, no gnuplot: render_markdown and figure_script only."""
import json
import os
import sys
import tempfile
import unittest

SRC = os.environ.get("XV_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools", "lab"))

from xvlab_lib import report, stats  # noqa: E402


def sample(cfg, rep, guest, metric, value):
    return {"config": cfg, "rep": rep, "guest": guest, "metric": metric, "value": value}


def data_000():
    """Three interleaved rounds: config 1 (one guest), 2 and 3 (five)."""
    sm = []
    for rep, base in ((1, 10.0), (2, 12.0), (3, 20.0)):
        sm.append(sample("1", rep, "g1", "real_s", base))
        sm.append(sample("1", rep, "g1", "user_s", 1.0))
        sm.append(sample("1", rep, "g1", "sys_s", 8.0))
        for i in range(1, 6):
            g = f"g{i}"
            sm.append(sample("2", rep, g, "real_s", 40.0))
            sm.append(sample("2", rep, g, "cpu_s_shared", 2.0))
            # config 3: guest 5 is 25 % faster in round 1, 50 % in 2, 10 % in 3
            r3 = {1: 30.0, 2: 20.0, 3: 36.0}[rep] if g == "g5" else 44.0
            sm.append(sample("3", rep, g, "real_s", r3))
            sm.append(sample("3", rep, g, "cpu_s_shared", 4.0 if g == "g5" else 1.5))
    return {"paper": "000", "mode": "quick", "reps": 3, "machine": {"cpus": 2},
            "params": {"prime_max": 1000}, "notes": ["a note"], "samples": sm,
            "series": [{"config": "2", "rep": 1, "t": [0.5, 1.0],
                        "cpu": {"g1": [10.0, 20.0], "g2": [5.0, 5.0]}}],
            "status": "complete"}


def row(md, label):
    """The cells of the Markdown table row whose first cell is label."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == label:
            return cells
    raise AssertionError(f"no row '{label}' in:\n{md}")


class Stats(unittest.TestCase):
    def test_summarize(self):
        self.assertEqual(stats.summarize([3, 1, 2]), {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3})
        self.assertEqual(stats.summarize([4, 1, 2, 3])["median"], 2.5)
        # Non-numbers and non-finite values are left out, not counted.
        self.assertEqual(stats.summarize([1.0, None, "x", float("nan"), True])["n"], 1)
        self.assertIsNone(stats.summarize([]))

    def test_paired_by_round(self):
        sm = [sample("a", 1, "g", "m", 10.0), sample("b", 1, "g", "m", 5.0),
              sample("a", 2, "g", "m", 20.0), sample("b", 2, "g", "m", 30.0),
              sample("b", 3, "g", "m", 1.0)]          # no baseline in round 3
        self.assertEqual(stats.paired(sm, "a", "b", "g", "m", stats.change_pct), [-50.0, 50.0])
        self.assertEqual(stats.paired(sm, "a", "b", "g", "m", stats.ratio_pct), [50.0, 150.0])
        # A zero baseline is skipped, not a crash.
        sm.append(sample("a", 3, "g", "m", 0.0))
        self.assertEqual(len(stats.paired(sm, "a", "b", "g", "m", stats.ratio_pct)), 2)

    def test_fmt(self):
        self.assertEqual(stats.fmt_stat({"median": 12.0, "min": 10.0, "max": 20.0, "n": 3}),
                         "12.0 (10.0–20.0, n=3)")
        self.assertEqual(stats.fmt_stat({"median": 5.0, "min": 5.0, "max": 5.0, "n": 1}), "5.00 (n=1)")
        self.assertEqual(stats.fmt_stat(None), "—")


class Report000(unittest.TestCase):
    def setUp(self):
        self.md = report.render_markdown(data_000(), figures=["fig1"])

    def test_table2_median_and_ratio(self):
        r = row(self.md, "config 1, guest 1, real")
        self.assertEqual(r[2], "49")                       # the paper's number as printed
        self.assertEqual(r[3], "12.0 (10.0–20.0, n=3)")    # median of 10, 12, 20
        self.assertEqual(r[4], f"{12.0 / 49.0:.2f}")
        r = row(self.md, "config 3, guest 5, real")
        self.assertEqual(r[2], "143.5")
        self.assertEqual(r[3], "30.0 (20.0–36.0, n=3)")

    def test_table3_paired_change(self):
        r = row(self.md, "guest 5, real")
        self.assertEqual(r[2], "-21.23")
        # per round: -25, -50, -10 -> median -25
        self.assertEqual(r[3], "-25.0 (-50.0–-10.0, n=3)")
        r = row(self.md, "guests 1–4, real, largest absolute change")
        self.assertTrue(r[3].startswith("10.0 "), r)

    def test_normalised_and_share(self):
        # round 1: mean(40 x5)/10 = 4; round 2: 40/12; round 3: 2 -> median 3.33
        r = row(self.md, "config 2: mean real of guests 1–5 ÷ config 1's real")
        self.assertTrue(r[3].startswith("3.33 (2.00–4.00, n=3)"), r)
        r = row(self.md, "guest 5 CPU share, config 2 (all nice 0)")
        self.assertTrue(r[3].startswith("20.0 "), r)
        r = row(self.md, "guest 5 CPU share, nice −20 (the paper's config 3)")
        self.assertTrue(r[3].startswith("40.0 "), r)       # 4 / (4 + 4 x 1.5)
        # Not measured: a dash, no ratio.
        r = row(self.md, "guest 5 real, config 2 → xvsched set weight (guest 5 : others)")
        self.assertEqual(r[3:], ["—", "—"])

    def test_figures_and_header(self):
        self.assertIn("![Figure 1: CPU use per guest, five guests at nice 0 (config 2)](fig1.svg)", self.md)
        self.assertIn("Mode **quick**, 3 interleaved round(s)", self.md)
        self.assertIn("- a note", self.md)
        md = report.render_markdown(data_000(), figures=None)
        self.assertIn("not drawn (no gnuplot); data in fig1.dat", md)

    def test_stacked_figure_is_cumulative(self):
        f = [f for f in report.papers.figures_000(data_000()) if f["name"] == "fig1"][0]
        script, dat = report.figure_script(f, "svg", "fig1.svg")
        self.assertEqual(dat.splitlines()[1:], ["0.50 10.00 15.00", "1.00 20.00 25.00"])
        self.assertIn("using 1:(0):2 with filledcurves", script)
        self.assertIn("using 1:2:3 with filledcurves", script)


class Report002And004(unittest.TestCase):
    def test_002_kept_of_solo(self):
        sm = []
        for rep, solo, idle in ((1, 200.0, 198.0), (2, 100.0, 90.0)):
            sm.append(sample("solo", rep, "same", "rps", solo))
            sm.append(sample("idle", rep, "same", "rps", idle))
        md = report.render_markdown({"paper": "002", "samples": sm, "series": []})
        r = row(md, "same: beside tripwire in xvsched's idle class, % of solo")
        self.assertEqual(r[2], "99.2")
        self.assertEqual(r[3], "94.5 (90.0–99.0, n=2)")
        self.assertEqual(row(md, "same: lighttpd alone, requests/s")[3], "150.0 (100.0–200.0, n=2)")

    def test_002_sections(self):
        """Before/after, §5.3's intervals, §5.6's views, the different
        domain (paired with solo in VM web), §5.1's access costs."""
        sm = []
        for rep in (1, 2):
            sm.append(sample("solo", rep, "same", "rps", 200.0))
            sm.append(sample("idle-base", rep, "same", "rps", 140.0))
            sm.append(sample("idle", rep, "same", "rps", 199.0 + rep))
            sm.append(sample("idle", rep, "same", "react_ms", 100.0 * rep))
            sm.append(sample("idle/10ms", rep, "same", "rps", 200.0))
            sm.append(sample("idle@qga", rep, "same", "rps", 100.0))
            sm.append(sample("idle-db", rep, "diff", "rps", 190.0))
            sm.append(sample("access", rep, "web", "pause_resume_us", 3000.0))
        md = report.render_markdown({"paper": "002", "samples": sm, "series": [],
                                     "params": {"view": "vmi", "interval": "100ms"}})
        self.assertEqual(row(md, "same: beside tripwire in xvsched's idle class, before (--base-xvsched), "
                                 "% of solo")[3], "70.0 (70.0–70.0, n=2)")
        self.assertEqual(row(md, "same: beside tripwire in xvsched's idle class, % of solo")[3],
                         "100.2 (100.0–100.5, n=2)")
        self.assertEqual(row(md, "different domain: beside tripwire in xvsched's idle class, % of solo")[3],
                         "95.0 (95.0–95.0, n=2)")
        self.assertEqual(row(md, "idle class, interval 10ms (after): % of solo")[3], "100.0 (100.0–100.0, n=2)")
        self.assertEqual(row(md, "idle class, interval 100ms (after): reaction (lighttpd busy → tripwire "
                                 "stopped)")[3], "150.0 (100.0–200.0, n=2)")
        self.assertEqual(row(md, "beside tripwire in xvsched's idle class, qga view: % of solo")[3],
                         "50.0 (50.0–50.0, n=2)")
        r = row(md, "VM pause + resume (QMP stop + cont)")
        self.assertEqual(r[2], "14.84")

    def test_004_before_after(self):
        sm = [sample("kernel-io-before", 1, "g1", "max_ms", 50.0),
              sample("kernel-io-after", 1, "g1", "max_ms", 5.0),
              sample("kernel-io-before", 2, "g1", "max_ms", 30.0),
              sample("kernel-io-after", 2, "g1", "max_ms", 10.0)]
        md = report.render_markdown({"paper": "004", "samples": sm, "series": []})
        r = row(md, "kernel-io load, before RT priority: max wake-up delay")
        self.assertEqual(r[2], "100.55")
        self.assertEqual(r[3], "40.0 (30.0–50.0, n=2)")
        r = row(md, "kernel-io load: max delay before ÷ after")
        self.assertEqual(r[2], "9.17")
        self.assertEqual(r[3], "6.50 (3.00–10.0, n=2)")


class BadInput(unittest.TestCase):
    def check(self, text, want):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(text)
        try:
            with self.assertRaises(report.ReportError) as cm:
                report.load(f.name)
            self.assertIn(want, str(cm.exception))
            self.assertNotIn("\n", str(cm.exception))
        finally:
            os.unlink(f.name)

    def test_bad_files(self):
        self.check("{not json", "not JSON")
        self.check(json.dumps({"paper": "999"}), "not an xvlab results file")
        self.check(json.dumps([1, 2]), "not an xvlab results file")
        self.check(json.dumps({"paper": "000", "samples": {}}), "must be lists")
        self.check(json.dumps({"paper": "000", "samples": [1]}), "a sample is not an object")
        with self.assertRaises(report.ReportError) as cm:
            report.load("/nonexistent/results.json")
        self.assertIn("No such file", str(cm.exception))


if __name__ == "__main__":
    unittest.main(verbosity=1)
