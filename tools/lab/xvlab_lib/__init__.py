# SPDX-License-Identifier: GPL-2.0-or-later
"""xvlab: the five papers' experiments, re-run on real guests (docs/lab.md).

stats   -- pure statistics (median, min-max, count)
papers  -- the papers' numbers and the tables/figures each report has (pure)
report  -- results.json -> report.md and gnuplot figures (pure but for gnuplot)
runner  -- guests, host levers, samplers and their teardown (side effects)
scenarios -- one function per paper: what runs, in which order
"""
VERSION = "0.1.0"
