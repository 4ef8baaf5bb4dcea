#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""xvlab paper 003's report (tools/lab/xvlab_lib/p003.py): pure, fixed JSON
in -> rows out.  No guest."""
import os
import sys
import unittest

SRC = os.environ.get("XV_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools", "lab"))

from xvlab_lib import p003, report  # noqa: E402


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
    for rep, one, two, three in ((1, 1000.0, 900.0, 950.0), (2, 2000.0, 1000.0, 2000.0)):
        sm.append(sample("1", rep, "g1", "tcprr", one))
        sm.append(sample("2", rep, "g1", "tcprr", two))
        sm.append(sample("2", rep, "g2", "tcprr", 10.0 * rep))
        sm.append(sample("3", rep, "g1", "tcprr", three))
        sm.append(sample("1", rep, "g1", "stones", 5e6))
        sm.append(sample("2", rep, "g1", "stones", 4e6))
        sm.append(sample("1", rep, "host", "loadavg", 10.0 * rep))
        sm.append(sample("rt-noload", rep, "g1", "periodic_max_ms", 0.5 * rep))
        sm.append(sample("rt-load", rep, "g1", "oneshot_max_ms", 20.0))
        sm.append(sample("rt-noload", rep, "g1", "ack_max_ms", 3.0))
        sm.append(sample("rt", rep, "host", "loadavg", 20.0))
    return {"paper": "003", "samples": sm, "series": [],
            "params": {"memstride": "xvbench memstride --size 256M --stride 4K --reps 3"}}


class Report003(unittest.TestCase):
    def test_table2_paired(self):
        md = report.render_markdown(data())
        r = row(md, "network: TCP_RR, 2 VMs, guest 1 as % of 1 VM")
        self.assertEqual(r[2], "90.01")
        self.assertEqual(r[3], "70.0 (50.0–90.0, n=2)")
        self.assertEqual(row(md, "network: TCP_RR, 3 VMs, guest 1 as % of 1 VM")[3], "97.5 (95.0–100.0, n=2)")
        self.assertEqual(row(md, "CPU: stones, 2 VMs, guest 1 as % of 1 VM")[3], "80.0 (80.0–80.0, n=2)")
        self.assertEqual(row(md, "network: TCP_RR, 2 VMs, guest 2 (shares CPU 0)")[3], "15.0 (10.0–20.0, n=2)")
        self.assertEqual(row(md, "host load during the 1-VM runs")[3], "15.0 (10.0–20.0, n=2)")
        # the size comes from the parameters
        row(md, "memory: 256M written at 4 KiB stride, 1 VM")

    def test_response(self):
        md = report.render_markdown(data())
        r = row(md, "periodic timer (10 ms), no load: max delay")
        self.assertEqual(r[2], "0.016")
        self.assertEqual(r[3], "0.75 (0.50–1.00, n=2)")
        r = row(md, "one-shot timer (10 ms), stress in the VM + network load: max delay")
        self.assertEqual(r[2], "6.7")
        self.assertEqual(row(md, "network ACK response (20 processes), no load: max")[2], "15.864")
        self.assertEqual(row(md, "periodic timer (10 ms), stress in the VM + network load: max delay")[3], "—")

    def test_figure(self):
        figs = p003.figures(data())
        self.assertEqual(len(figs), 1)
        labels = [b["label"] for b in figs[0]["bars"]]
        self.assertEqual(labels, ["periodic-noload", "ack-noload", "oneshot-load"])
        self.assertEqual(figs[0]["bars"][2]["paper"], 6.7)
        self.assertEqual(p003.figures({"samples": []}), [])

    def test_empty(self):
        md = report.render_markdown({"paper": "003", "samples": [], "series": []})
        self.assertEqual(row(md, "CPU: stones, 1 VM")[3], "—")


if __name__ == "__main__":
    unittest.main(verbosity=1)
