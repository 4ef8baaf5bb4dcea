# SPDX-License-Identifier: GPL-2.0-or-later
"""results.json -> report.md (pure: render_markdown) and the figures
(gnuplot scripts and data written beside the report; SVG and PNG drawn
when gnuplot is installed)."""
import json
import os
import shutil
import subprocess

from . import papers
from . import stats as S


class ReportError(Exception):
    pass


def load(path):
    """Read and check results.json (bounded: it is our own output, but a
    user may point `xvlab report` at anything)."""
    try:
        if os.path.getsize(path) > 64 << 20:
            raise ReportError(f"{path}: larger than 64 MiB, not an xvlab results file")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ReportError(f"{path}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: not JSON: {e}") from None
    if not isinstance(data, dict) or data.get("paper") not in papers.BUILDERS:
        raise ReportError(f"{path}: not an xvlab results file (no known 'paper')")
    if not isinstance(data.get("samples", []), list) or not isinstance(data.get("series", []), list):
        raise ReportError(f"{path}: 'samples' and 'series' must be lists")
    for s in data.get("samples", []):
        if not isinstance(s, dict):
            raise ReportError(f"{path}: a sample is not an object")
    return data


def _paper_cell(p, unit):
    if p is None:
        return "—"
    if isinstance(p, str):
        return p
    if isinstance(p, (list, tuple)):
        return f"{_paper_num(p[0])}–{_paper_num(p[1])}"
    return _paper_num(p)


def _paper_num(v):
    """The paper's numbers as printed there (no rounding)."""
    return f"{v:,.0f}" if abs(v) >= 1e5 else f"{v:g}"


def _ours_cell(o):
    if not o:
        return "—"
    if "range" in o:
        return f"{S.fmt_num(o['range'][0])}–{S.fmt_num(o['range'][1])} (n={o['n']} each)"
    return S.fmt_stat(o)


def _num(x):
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return None
    if isinstance(x, (list, tuple)):
        return (x[0] + x[1]) / 2.0
    return float(x)


def _ratio_cell(p, o):
    pv = _num(p)
    if not o:
        return "—"
    ov = (o["range"][0] + o["range"][1]) / 2.0 if "range" in o else o["median"]
    if pv is None or pv == 0:
        return "—"
    return f"{ov / pv:.2f}"


def render_table(t):
    lines = [f"### {t['title']}", ""]
    if t.get("note"):
        lines += [t["note"], ""]
    lines += ["| | unit | paper | ours: median (min–max, n) | ours ÷ paper |",
              "|---|---|---:|---:|---:|"]
    for r in t["rows"]:
        # A '|' in a label would split the Markdown row.
        lines.append(f"| {r['label'].replace('|', '/')} | {r['unit']} | {_paper_cell(r['paper'], r['unit'])} | "
                     f"{_ours_cell(r['ours'])} | {_ratio_cell(r['paper'], r['ours'])} |")
    return "\n".join(lines) + "\n"


def render_markdown(data, figures=None):
    """The whole report as Markdown.  figures: the names of drawn figures
    (their SVG/PNG lie beside report.md); None: list them as not drawn."""
    paper = data["paper"]
    tb, fb = papers.BUILDERS[paper]
    out = [f"# xvlab {paper}: {papers.TITLES[paper]}", ""]
    mode = data.get("mode", "?")
    out.append(f"Mode **{mode}**, {data.get('reps', '?')} interleaved round(s), "
               f"{data.get('started_utc', '?')} – {data.get('ended_utc', '?')}.")
    if data.get("status") and data["status"] != "complete":
        out.append(f"**Status: {data['status']}** — the tables hold what was measured before it stopped.")
    out.append("")
    m = data.get("machine", {})
    if m:
        out.append("Machine: " + ", ".join(f"{k} {v}" for k, v in m.items()) + ".")
        out.append("")
    if data.get("params"):
        out.append("Parameters: " + ", ".join(f"`{k}` = {v}" for k, v in data["params"].items()) + ".")
        out.append("")
    for n in data.get("notes", []):
        out.append(f"- {n}")
    if data.get("notes"):
        out.append("")
    out.append("## Tables")
    out.append("")
    for t in tb(data):
        out.append(render_table(t))
    figs = fb(data)
    if figs:
        out.append("## Figures")
        out.append("")
        for f in figs:
            if figures is not None and f["name"] in figures:
                out.append(f"**{f['title']}** (round {f.get('rep', 1)})" if f["kind"] == "stacked" else f"**{f['title']}**")
                out.append("")
                out.append(f"![{f['title']}]({f['name']}.svg) ([PNG]({f['name']}.png))")
            else:
                out.append(f"**{f['title']}**: not drawn (no gnuplot); data in {f['name']}.dat")
            out.append("")
    out.append("## Raw data")
    out.append("")
    out.append(f"`results.json`: {len(data.get('samples', []))} samples, "
               f"{len(data.get('series', []))} time series. Redraw: `xvlab report DIR`.")
    return "\n".join(out) + "\n"


def _gp_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def figure_script(f, term, outfile):
    """(gnuplot script, data text) of one figure."""
    if f["kind"] == "stacked":
        names = list(f["cols"].keys())
        lines = ["# t " + " ".join(names)]
        for i, t in enumerate(f["t"]):
            acc = 0.0
            row = [f"{t:.2f}"]
            for n in names:
                v = f["cols"][n][i] if i < len(f["cols"][n]) else None
                acc += v or 0.0
                row.append(f"{acc:.2f}")
            lines.append(" ".join(row))
        dat = "\n".join(lines) + "\n"
        plots = []
        for k in range(len(names), 0, -1):
            lower = f"{k}" if k > 1 else "(0)"
            plots.append(f"'DATA' using 1:{lower}:{k + 1} with filledcurves title {_gp_quote(names[k - 1])}")
        body = ("set style fill solid 0.6 border -1\nset key outside right\n"
                f"set xlabel {_gp_quote(f['xlabel'])}\nset ylabel {_gp_quote(f['ylabel'])}\n"
                "set yrange [0:*]\nplot " + ", \\\n  ".join(plots) + "\n")
    else:
        lines = ["# label ours_median ours_min ours_max paper"]
        for b in f["bars"]:
            o = b["ours"] or {"median": float("nan"), "min": float("nan"), "max": float("nan")}
            p = b["paper"] if b["paper"] is not None else "NaN"
            lines.append(f"{_gp_quote(b['label'])} {o['median']} {o['min']} {o['max']} {p}")
        dat = "\n".join(lines) + "\n"
        body = ("set style data histogram\nset style histogram errorbars gap 2 lw 1\n"
                "set style fill solid 0.6 border -1\nset key top right\nset xtics rotate by -20\n"
                f"set ylabel {_gp_quote(f['ylabel'])}\n"
                + ("set logscale y\n" if f.get("log") else "set yrange [0:*]\n")
                + "plot 'DATA' using 2:3:4:xtic(1) title 'ours (median, min–max)'"
                # gnuplot refuses a histogram column with no valid point
                + (", '' using 5:5:5 title 'paper'\n" if any(b["paper"] is not None for b in f["bars"]) else "\n"))
    head = (f"set terminal {term}\nset output {_gp_quote(outfile)}\n"
            f"set title {_gp_quote(f['title'])}\nset grid\n")
    return head + body, dat


def write_figures(data, outdir):
    """Draw every figure into outdir; returns the names drawn."""
    _, fb = papers.BUILDERS[data["paper"]]
    gp = shutil.which("gnuplot")
    drawn = []
    for f in fb(data):
        datpath = os.path.join(outdir, f["name"] + ".dat")
        ok = True
        for term, ext in (("svg size 800,480 dynamic font 'sans,11'", "svg"),
                          ("pngcairo size 800,480 font 'sans,10'", "png")):
            script, dat = figure_script(f, term, f"{f['name']}.{ext}")
            with open(datpath, "w", encoding="utf-8") as fh:
                fh.write(dat)
            script = script.replace("'DATA'", _gp_quote(f["name"] + ".dat"))
            with open(os.path.join(outdir, f"{f['name']}.gp"), "w", encoding="utf-8") as fh:
                fh.write(script)
            if not gp:
                ok = False
                continue
            r = subprocess.run([gp, f"{f['name']}.gp"], cwd=outdir,
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise ReportError(f"gnuplot failed on {f['name']}: {r.stderr.strip().splitlines()[-1:]}")
        if ok:
            drawn.append(f["name"])
    return drawn


def write_report(results_path, outdir=None):
    """results.json -> report.md and figures in outdir (default: its dir)."""
    data = load(results_path)
    outdir = outdir or os.path.dirname(os.path.abspath(results_path))
    drawn = write_figures(data, outdir)
    md = render_markdown(data, drawn)
    path = os.path.join(outdir, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(md)
    return path
