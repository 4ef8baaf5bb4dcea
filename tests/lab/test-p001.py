#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""xvlab paper 001's report (tools/lab/xvlab_lib/p001.py): pure, fixed JSON
in -> rows out.  No guest."""
import os
import sys
import unittest

SRC = os.environ.get("XV_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools", "lab"))

from xvlab_lib import p001, report  # noqa: E402


def sample(cfg, rep, guest, metric, value):
    return {"config": cfg, "rep": rep, "guest": guest, "metric": metric, "value": value}


def row(md, label):
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == label:
            return cells
    raise AssertionError(f"no row '{label}' in:\n{md}")


def data():
    sm = []
    for rep in (1, 2):
        sm.append(sample("host", rep, "h1", "memcpy", 100.0))
        sm.append(sample("host", rep, "host", "load", 10.0 * rep))
        sm.append(sample("node0", rep, "h1", "memcpy", 100.0 * rep))
        sm.append(sample("guest", rep, "g1", "memcpy", 120.0))
        sm.append(sample("guest", rep, "g1", "randread", 1000.0))
        # two instances: their mean per round
        sm.append(sample("shared-guests", rep, "g1", "memcpy", 200.0))
        sm.append(sample("shared-guests", rep, "g2", "memcpy", 160.0 + 80.0 * (rep - 1)))
        sm.append(sample("shared-guests", rep, "g1", "randread", 1100.0))
        sm.append(sample("shared-guests", rep, "g2", "randread", 1100.0))
        sm.append(sample("nodes01-guests", rep, "g1", "randread", 1000.0))
        sm.append(sample("nodes01-guests", rep, "g2", "randread", 1000.0))
    sm.append(sample("guest", 3, "g1", "memcpy", 999.0))   # no host in round 3: unpaired
    return {"paper": "001", "samples": sm, "series": [], "params": {}}


class Report001(unittest.TestCase):
    def test_cost_and_pairs(self):
        md = report.render_markdown(data())
        self.assertEqual(row(md, "memcpy 1 MiB: host (1)")[3], "100.0 (100.0–100.0, n=2)")
        self.assertEqual(row(md, "memcpy 1 MiB: shared-guests (7)")[3], "200.0 (180.0–220.0, n=2)")
        r = row(md, "memcpy 1 MiB: 1 guest ÷ plain Linux (4 ÷ 1)")
        self.assertEqual(r[2], "1.2")
        self.assertEqual(r[3], "1.20 (1.20–1.20, n=2)")
        self.assertEqual(r[4], "1.00")
        self.assertEqual(row(md, "memcpy 1 MiB: Mint node 0 ÷ plain Linux (2 ÷ 1)")[3], "1.50 (1.00–2.00, n=2)")
        r = row(md, "memcpy 1 MiB: 2 guests, shared ÷ 1 guest (7 ÷ 4)")
        self.assertEqual(r[2], "1.67–1.71")
        self.assertEqual(r[3], "1.67 (1.50–1.83, n=2)")
        r = row(md, "randread 256 KiB (O_DIRECT): 2 guests: shared ÷ partitioned (7 ÷ 6)")
        self.assertEqual(r[2], "1.08")
        self.assertEqual(r[3], "1.10 (1.10–1.10, n=2)")
        self.assertEqual(row(md, "load average at the start: host (1)")[3], "15.0 (10.0–20.0, n=2)")

    def test_missing_configs_leave_no_rows(self):
        md = report.render_markdown(data())
        self.assertNotIn("nodes01 (3)", md)
        self.assertNotIn("(3 ÷ 2)", md)

    def test_figure(self):
        figs = p001.figures(data())
        self.assertEqual(len(figs), 1)
        labels = [b["label"] for b in figs[0]["bars"]]
        self.assertIn("memcpy 4÷1", labels)
        self.assertIn("randread 7÷6", labels)
        b = [b for b in figs[0]["bars"] if b["label"] == "memcpy 7÷4"][0]
        self.assertAlmostEqual(b["paper"], 1.69)
        self.assertEqual(p001.figures({"samples": []}), [])

    def test_layout_names_the_partitions(self):
        for cfg, lay in p001.LAYOUT.items():
            self.assertIn(cfg, p001.CONFIGS)
            for part, disk in lay:
                self.assertTrue(part is None or part in p001.PARTS)
                self.assertIn(disk, ("d0", "d1"))
        # partitioned: two partitions that do not overlap; shared: one
        self.assertEqual(len({p for p, _ in p001.LAYOUT["nodes01-guests"]}), 2)
        self.assertEqual({p for p, _ in p001.LAYOUT["shared-guests"]}, {"shared"})


if __name__ == "__main__":
    unittest.main()
