#!/bin/bash
# `xvsched timeline` reads a file that names tasks and domains; root draws
# it with gnuplot.  A crafted file must never run a command: names that are
# not plain ([A-Za-z0-9_.-]) are refused with one error line, and names go
# to gnuplot as data, never as script.  A timeline that is a symlink, or (as
# root) owned by another user or writable by group/others, is refused.
# No guest needed.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd gnuplot python3

X="$XV_BUILD/src/cli/xvsched"
d=$XV_TEST_DIR
pwned=/tmp/PWNED-xvtl-$$
rm -f "$pwned" "$pwned".2
xv_on_exit "rm -f '$pwned' '$pwned.2'"

# A plain timeline draws (the safe path still works).
python3 - "$d/good.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(20):
        f.write(json.dumps({"tick": i, "t_ms": i * 100, "tasks": [
            {"task": "pi1", "domain": "vm-a", "state": "running" if i % 2 else "stopped", "cpu_pct": 50},
            {"task": "db.main", "domain": "vm_b", "state": "sleeping", "cpu_pct": 0}]}) + "\n")
PY
chmod 0644 "$d/good.jsonl"
out=$("$X" timeline "$d/good.jsonl" --svg "$d/good.svg" 2>&1) || fail "a plain timeline: $out"
[ -s "$d/good.svg" ] || fail "no picture from a plain timeline"
grep -q 'vm-a/pi1' "$d/good.svg" || fail "the picture lacks the task label vm-a/pi1"
grep -q 'vm_b/db.main' "$d/good.svg" || fail "the picture lacks the task label vm_b/db.main"

# Crafted names: break out of a single- or a double-quoted gnuplot string.
python3 - "$d/evil.jsonl" "$pwned" <<'PY'
import json, sys
p = sys.argv[2]
names = ["x\"; system(\"touch %s\"); print \"" % p,
         "x' 1); system('touch %s.2'); set ytics ('y" % p]
with open(sys.argv[1], "w") as f:
    for i in range(5):
        f.write(json.dumps({"tick": i, "t_ms": i * 100, "tasks": [
            {"task": n, "domain": "vm", "state": "running", "cpu_pct": 10} for n in names]}) + "\n")
PY
chmod 0644 "$d/evil.jsonl"
rc=0
out=$("$X" timeline "$d/evil.jsonl" --svg "$d/evil.svg" 2>&1) || rc=$?
[ ! -e "$pwned" ] && [ ! -e "$pwned.2" ] || fail "a task name in the timeline ran a command as root"
[ "$rc" != 0 ] || fail "a timeline with a quote in a task name was accepted"
assert_match 'evil.jsonl:1: .*task name' "$out" "one error line names the file, line and field"
assert_eq 1 "$(printf '%s\n' "$out" | wc -l)" "error lines"
[ ! -e "$d/evil.svg" ] || fail "a refused timeline still drew a picture"

# The same in a domain name, and a control character.
printf '{"t_ms":0,"tasks":[{"task":"a","domain":"v'"'"'); system(\\"touch %s\\"); #","state":"running"}]}\n' "$pwned" \
        >"$d/evil2.jsonl"
printf '{"t_ms":0,"tasks":[{"task":"a\\nb","domain":"vm","state":"running"}]}\n' >"$d/evil3.jsonl"
chmod 0644 "$d/evil2.jsonl" "$d/evil3.jsonl"
for f in evil2 evil3; do
        rc=0
        out=$("$X" timeline "$d/$f.jsonl" --svg "$d/$f.svg" 2>&1) || rc=$?
        [ "$rc" != 0 ] || fail "$f.jsonl: a hostile name was accepted"
        assert_match 'name' "$out" "$f.jsonl: the error names the problem"
done
[ ! -e "$pwned" ] || fail "a domain name in the timeline ran a command as root"

# An output path with a quote is data too (gnuplot gets it as an argument).
out=$("$X" timeline "$d/good.jsonl" --svg "$d/it's.svg" 2>&1) || fail "an output path with a quote: $out"
[ -s "$d/it's.svg" ] || fail "no picture at a path with a quote"

# A symlinked timeline is refused.
ln -s "$d/good.jsonl" "$d/link.jsonl"
rc=0
out=$("$X" timeline "$d/link.jsonl" 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "a symlinked timeline was read"
assert_match 'link.jsonl: .*symlink' "$out" "the error says symlink"

# As root: a file owned by nobody, or writable by others, is refused.
cp "$d/good.jsonl" "$d/nobody.jsonl"
chown nobody "$d/nobody.jsonl"
rc=0
out=$("$X" timeline "$d/nobody.jsonl" 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "root read a timeline owned by nobody"
assert_match 'nobody.jsonl: .*owned by' "$out" "the error names the owner"
cp "$d/good.jsonl" "$d/ww.jsonl"
chmod 0666 "$d/ww.jsonl"
rc=0
out=$("$X" timeline "$d/ww.jsonl" 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "root read a world-writable timeline"
assert_match 'ww.jsonl: .*writable' "$out" "the error says writable"

# A FIFO is not a file: refused at once rather than waited on.
mkfifo -m 0600 "$d/fifo.jsonl"
rc=0
out=$(timeout 10 "$X" timeline "$d/fifo.jsonl" 2>&1) || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "a FIFO timeline: rc $rc"

pass
