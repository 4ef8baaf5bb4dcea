#!/bin/bash
# The figures of the lever and policy experiments (paper 000's nice, paper
# 002's §5.2 idle class, §5.4 timeline, proportional share, WEB/DB/BACKUP),
# as a benchmark: runs the experiments REPS times, interleaved (every
# experiment once per round), and prints each figure's median, min-max and
# count.  The integration tests check the same experiments with bounds that
# hold on a loaded machine; the figures themselves belong here and in
# docs/policy.md / docs/levers.md.  Run it on a quiet machine.
#
#   scripts/bench-policy.sh [BUILD_DIR] [REPS]        (as root; default build, 3)
#
# Each experiment prints its figures on stdout (see the test scripts); this
# collects them by pattern.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
reps=${2:-3}
tests=(lever-effect policy-idle policy-timeline policy-share policy-web-db)
out=$(mktemp -d /tmp/xvbench-policy.XXXXXX)

for ((r = 1; r <= reps; r++)); do
        for t in "${tests[@]}"; do
                echo "round $r/$reps: $t" >&2
                XV_BUILD=$build XV_SRC=$src bash "$src/tests/integration/$t.sh" >"$out/$t.$r.log" 2>&1 ||
                        echo "  ($t exited $?; its figures are still collected; log: $out/$t.$r.log)" >&2
        done
done

python3 - "$out" "$reps" <<'PY'
import re, statistics, sys, glob, os
out, reps = sys.argv[1], int(sys.argv[2])
# (experiment, figure, regex with one group, unit)
figs = [
    ("lever-effect", "weight 4:1, heavier guest's share", r"weight 4:1 .*share (\d+)/", "%"),
    ("lever-effect", "nice -20 vs 0, favoured guest's share", r"nice -20/0 .*share (\d+)/", "%"),
    ("lever-effect", "cap=25, CPU of one core", r"cap=25 +-> ea ([\d.]+) %", "%"),
    ("policy-idle", "§5.2 foreground kept of its solo throughput", r"-> ([\d.]+) % of solo", "%"),
    ("policy-idle", "§5.2 background while the foreground sleeps", r"background while the foreground sleeps: ([\d.]+) %", "% of a core"),
    ("policy-timeline", "§5.4 idle task's run time while all others idle", r"were idle: ([\d.]+) %", "%"),
    ("policy-share", "share target 50", r"sa ([\d.]+) %", "%"),
    ("policy-share", "share target 30", r"sb ([\d.]+) %", "%"),
    ("policy-share", "share target 20", r"sc ([\d.]+) %", "%"),
    ("policy-web-db", "WEB/DB/BACKUP: DB", r"DB ([\d.]+) ", "% of a core"),
    ("policy-web-db", "WEB/DB/BACKUP: WEB", r"WEB ([\d.]+) ", "% of a core"),
    ("policy-web-db", "WEB/DB/BACKUP: BACKUP", r"BACKUP ([\d.]+) ", "% of a core"),
]
print(f"{'experiment':16} {'figure':48} {'median':>7} {'min':>7} {'max':>7} {'n':>3}")
for exp, name, rx, unit in figs:
    vals = []
    for r in range(1, reps + 1):
        p = os.path.join(out, f"{exp}.{r}.log")
        if not os.path.exists(p):
            continue
        m = re.search(rx, open(p, errors="replace").read())
        if m:
            vals.append(float(m.group(1)))
    if vals:
        print(f"{exp:16} {name:48} {statistics.median(vals):7.1f} {min(vals):7.1f} {max(vals):7.1f} {len(vals):3d}  {unit}")
    else:
        print(f"{exp:16} {name:48} {'-':>7} {'-':>7} {'-':>7} {0:3d}")
print(f"(logs: {out})")
PY
