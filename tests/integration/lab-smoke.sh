#!/bin/bash
# xvlab end to end on its smallest real path: `xvlab run 000 --smoke` boots
# one busybox guest, pins it with xvsched, runs xvbench prime 1..2000 on its
# console, and writes results.json (real/user/sys, 303 primes) and
# report.md (Table 2's config 1 row with our number beside the paper's 49 s)
# and the figure.  Then SIGTERM in the middle of a run: xvlab exits 143,
# its guest is gone, its levers are reset and results.json says so.
# No figure is asserted: the numbers are printed, not checked.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_vm
require_cmd taskset

lab=$XV_SRC/tools/lab/xvlab
out=$XV_TEST_DIR/out
export XV_BUILD XV_SRC XV_IMAGE

"$lab" run 000 --smoke --out "$out" >"$XV_TEST_DIR/run.log" 2>&1 ||
        fail "xvlab run 000 --smoke failed: $(tail -3 "$XV_TEST_DIR/run.log")"
[ -f "$out/results.json" ] || fail "no results.json"
[ -f "$out/report.md" ] || fail "no report.md"
read -r status primes real < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = {s["metric"]: s["value"] for s in d["samples"] if s["config"] == "1" and s["guest"] == "g1"}
print(d["status"], v.get("primes"), v.get("real_s"))' "$out/results.json")
assert_eq complete "$status" "results.json status"
assert_eq 303 "$primes" "primes up to 2000 found in the guest"
echo "smoke: config 1 real $real s"
row=$(grep -F '| config 1, guest 1, real | s | 49 |' "$out/report.md") || fail "report.md has no config 1 real row"
assert_match '\| [0-9.]+ \(n=1\) \| [0-9.]+ \|$' "$row" "config 1 row has our median and a ratio"
grep -q '^### Table 3: change from config 2 to config 3' "$out/report.md" || fail "report.md lacks Table 3"
if command -v gnuplot >/dev/null; then
        [ -s "$out/fig-config1.svg" ] && [ -s "$out/fig-config1.png" ] || fail "no figure drawn"
fi
# report redraws from results.json alone.
rm "$out/report.md"
"$lab" report "$out" >/dev/null || fail "xvlab report failed"
grep -qF '| config 1, guest 1, real | s | 49 |' "$out/report.md" || fail "xvlab report did not redraw the table"
# Bad input: one line, non-zero.
echo '{"paper": "xyz"}' >"$XV_TEST_DIR/bad.json"
if err=$("$lab" report "$XV_TEST_DIR/bad.json" 2>&1); then fail "report of a bad file succeeded"; fi
assert_eq 1 "$(printf '%s\n' "$err" | wc -l)" "one error line"
assert_match '^xvlab: error: .*not an xvlab results file' "$err"

# SIGTERM while the guest runs: teardown.
out2=$XV_TEST_DIR/out2
"$lab" run 000 --smoke --max 100000000 --out "$out2" >"$XV_TEST_DIR/run2.log" 2>&1 &
lpid=$!
xv_on_exit "kill -TERM $lpid 2>/dev/null; wait $lpid 2>/dev/null"
qpid=""
for ((i = 0; i < 300; i++)); do
        qpid=$(sed -n 's/.* started [^ ]* pid \([0-9]*\)$/\1/p' "$out2/lab.log" 2>/dev/null | head -n1 || true)
        [ -n "$qpid" ] && grep -q 'cpus=1' "$out2/lab.log" && break
        sleep 0.1
done
[ -n "$qpid" ] || { kill -TERM "$lpid"; fail "xvlab started no guest in 30 s"; }
kill -TERM "$lpid"
rc=0
wait "$lpid" || rc=$?
assert_eq 143 "$rc" "xvlab's exit status after SIGTERM"
wait_gone "$qpid" 10 || fail "xvlab left its guest (QEMU pid $qpid) running"
assert_match 'terminated' "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$out2/results.json")"
grep -q 'reset --all' "$out2/lab.log" || fail "xvlab did not reset its levers"
pass
