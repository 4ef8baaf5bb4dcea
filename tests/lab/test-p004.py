#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""xvlab paper 004's report (tools/lab/xvlab_lib/p004.py): the disk
configurations (emulated IDE vs virtio) beside the older ones; pure."""
import os
import sys
import unittest

SRC = os.environ.get("XV_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools", "lab"))

from xvlab_lib import p004, report  # noqa: E402


def sample(cfg, rep, guest, metric, value):
    return {"config": cfg, "rep": rep, "guest": guest, "metric": metric, "value": value}


def row(md, label):
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == label:
            return cells
    return None


class Report004(unittest.TestCase):
    def test_disk_rows(self):
        sm = []
        for rep, ide, virtio in ((1, 80.0, 20.0), (2, 60.0, 30.0)):
            sm.append(sample("kernel-ide-before", rep, "g1", "max_ms", ide))
            sm.append(sample("kernel-virtio-before", rep, "g1", "max_ms", virtio))
            sm.append(sample("kernel-ide-after", rep, "g1", "max_ms", ide / 10))
            sm.append(sample("kernel-virtio-after", rep, "g1", "max_ms", virtio / 10))
            sm.append(sample("kernel-ide-before", rep, "host", "loadavg", 20.0))
        md = report.render_markdown({"paper": "004", "samples": sm, "series": []})
        r = row(md, "emulated IDE ÷ virtio disk, before RT priority: max delay")
        self.assertEqual(r[2], "9.17")
        self.assertEqual(r[3], "3.00 (2.00–4.00, n=2)")
        self.assertEqual(row(md, "kernel-ide load: max delay before ÷ after")[3], "10.0 (10.0–10.0, n=2)")
        self.assertEqual(row(md, "kernel-ide load, before RT priority: max wake-up delay")[2], "100.55")
        self.assertEqual(row(md, "kernel-virtio load, after RT priority: max wake-up delay")[2], "10.97")
        self.assertEqual(row(md, "kernel-ide load, before: host load (1-min average)")[3], "20.0 (20.0–20.0, n=2)")
        labels = [b["label"] for b in p004.figures({"samples": sm})[0]["bars"]]
        self.assertEqual(labels, ["kernel-ide-before", "kernel-ide-after", "kernel-virtio-before",
                                  "kernel-virtio-after"])

    def test_no_disk_runs(self):
        """A run without the disk configurations (an older results.json)
        has no disk rows."""
        sm = [sample("kernel-io-before", 1, "g1", "max_ms", 50.0),
              sample("kernel-io-after", 1, "g1", "max_ms", 5.0)]
        md = report.render_markdown({"paper": "004", "samples": sm, "series": []})
        self.assertIsNone(row(md, "emulated IDE ÷ virtio disk, before RT priority: max delay"))
        self.assertIsNone(row(md, "kernel-ide load, before RT priority: max wake-up delay"))
        self.assertEqual(row(md, "kernel-io load: max delay before ÷ after")[3], "10.0 (n=1)")


if __name__ == "__main__":
    unittest.main(verbosity=1)
