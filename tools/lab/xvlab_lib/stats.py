# SPDX-License-Identifier: GPL-2.0-or-later
"""Statistics that hold on a noisy machine: median, min-max and the count.

Pure functions over the sample records of results.json:
    {"config": "2", "rep": 1, "guest": "g5", "metric": "real_s", "value": 12.3}
"""
import math
import statistics


def summarize(values):
    """{"median", "min", "max", "n"} of the finite values, or None if none."""
    vals = [float(v) for v in values
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def select(samples, config=None, guest=None, metric=None, rep=None):
    """The values of the samples matching every given field."""
    out = []
    for s in samples:
        if config is not None and s.get("config") != config:
            continue
        if guest is not None and s.get("guest") != guest:
            continue
        if metric is not None and s.get("metric") != metric:
            continue
        if rep is not None and s.get("rep") != rep:
            continue
        out.append(s.get("value"))
    return out


def by_rep(samples, config, guest, metric):
    """{rep: value} for one config/guest/metric (the first sample of each rep)."""
    out = {}
    for s in samples:
        if s.get("config") == config and s.get("guest") == guest and s.get("metric") == metric:
            v = s.get("value")
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out.setdefault(s.get("rep"), float(v))
    return out


def paired(samples, base_cfg, cfg, guest, metric, fn):
    """fn(base, value) for every repetition that has both: interleaved runs
    pair a configuration with the baseline of the same round."""
    a = by_rep(samples, base_cfg, guest, metric)
    b = by_rep(samples, cfg, guest, metric)
    out = []
    for rep in sorted(set(a) & set(b), key=str):
        try:
            out.append(fn(a[rep], b[rep]))
        except ZeroDivisionError:
            pass
    return out


def change_pct(base, value):
    """Relative change in % (paper 000's Table 3)."""
    return (value - base) / base * 100.0


def ratio_pct(base, value):
    """value as % of base (paper 002: % of solo throughput)."""
    return value / base * 100.0


def fmt_num(v, digits=None):
    """A number with a sensible number of digits."""
    if v is None:
        return "—"
    if digits is None:
        a = abs(v)
        digits = 0 if a >= 1000 else 1 if a >= 10 else 2 if a >= 0.1 else 3
    return f"{v:,.{digits}f}"


def fmt_stat(st, digits=None):
    """'12.3 (11.0–13.1, n=3)', or '—' without data."""
    if not st:
        return "—"
    if st["n"] == 1:
        return f"{fmt_num(st['median'], digits)} (n=1)"
    return (f"{fmt_num(st['median'], digits)} ({fmt_num(st['min'], digits)}–"
            f"{fmt_num(st['max'], digits)}, n={st['n']})")
