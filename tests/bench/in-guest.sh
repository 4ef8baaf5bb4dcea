#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Boot one guest (tools/vm/mkimage image with xvbench in it, tools/vm/vm) and run
# every xvbench workload briefly inside it.  Each report is printed to the
# console between "XVB-BEGIN CASE" and "XVB-END CASE STATUS" lines; this
# script cuts them out and checks them with check-bench.py --validate, the
# same checks as the host runs.
#
# Exits 77 (skip) only when a requirement is truly absent, and says which.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

xvbench=$XV_BUILD/bench/xvbench
checker=$XV_SRC/tests/bench/check-bench.py
PYTHON=${XV_PYTHON:-python3}
src=$XV_SRC
build=$XV_BUILD

require_cmd "${XV_QEMU:-qemu-system-x86_64}" "$PYTHON" base64
[ -x "$src/tools/vm/mkimage" ] && [ -x "$src/tools/vm/vm" ] || fail "tools/vm/mkimage or tools/vm/vm missing (they are part of the repository)"
[ -x "$xvbench" ] || fail "$xvbench not built"
if ldd "$xvbench" >/dev/null 2>&1; then
        skip "$xvbench is dynamically linked (sanitizer build?); guests need the static one"
fi

# A private image (xvbench only) beside the shared one, reusing its kernel
# package cache so that no download happens when the shared one exists.
img=$build/guest-bench
mkdir -p "$img"
if [ -d "$build/guest/cache" ] && [ ! -e "$img/cache" ]; then
        ln -s "$build/guest/cache" "$img/cache"
fi
"$src/tools/vm/mkimage" --out "$img" --bin "$xvbench" >&2 || fail "tools/vm/mkimage failed"

name=xvbench

# The guest script goes through the kernel command line (2 KiB with its
# base64), so it is terse: r CASE ARGS... runs one case.
script='cd /tmp
r(){ n=$1;shift;echo "XVB-BEGIN $n";xvbench "$@" --quiet --json=/tmp/o.json 2>/tmp/e;s=$?;cat /tmp/o.json;echo "XVB-END $n $s";cat /tmp/e;rm -f /tmp/o.json;}
'
while IFS=$'\t' read -r case args; do
        script+="r $case $args"$'\n'
done < <("$PYTHON" "$checker" --guest-commands)
script+='xvbench rr server --port 7780 --duration 30 --quiet & p=$!
r rr rr client --duration 0.5 --procs 2
r rr-ack rr ack --duration 0.5 --procs 4 --interval 5ms
kill $p
'

# TCG is slow: give the guest memory for memstride and time for everything.
vm start --name "$name" --image "$img" --mem 256 --cpus 1 --cmd "$script" >/dev/null
status=$(vm wait-exit "$name" --timeout "${XV_GUEST_TIMEOUT:-400}") || true
console=$XV_RUN/$name.console
[ -f "$console" ] || fail "no console file"
echo "guest accel: $(cat "$XV_RUN/$name.accel" 2>/dev/null || echo ?), command exit status: ${status:-none}"

out=$XV_TEST_DIR/reports
mkdir -p "$out"
tr -d '\r' < "$console" | awk -v dir="$out" '
        /^XVB-BEGIN / { name = $2; file = dir "/" name ".json"; printf "" > file; inside = 1; next }
        /^XVB-END /   { inside = 0; close(file); print $3 > (dir "/" $2 ".status"); close(dir "/" $2 ".status"); next }
        inside        { print >> file }
'

# Keep the reports when asked (docs/bench.md quotes some).
if [ -n "${XV_BENCH_REPORTS:-}" ]; then
        mkdir -p "$XV_BENCH_REPORTS" && cp "$out"/*.json "$XV_BENCH_REPORTS"/
fi

failed=0
expected=$("$PYTHON" "$checker" --guest-commands | cut -f1; echo rr; echo rr-ack)
for case in $expected; do
        if [ ! -f "$out/$case.status" ]; then
                echo "FAIL $case: no report on the console"
                failed=$((failed + 1))
                continue
        fi
        st=$(cat "$out/$case.status")
        if [ "$st" != 0 ]; then
                echo "FAIL $case: xvbench exit status $st in the guest"
                grep -A3 "^XVB-END $case " "$console" | tail -n +2 | head -3 | sed 's/^/    /'
                failed=$((failed + 1))
                continue
        fi
        if ! "$PYTHON" "$checker" --validate "$case" "$out/$case.json"; then
                echo "FAIL $case: report does not pass the checks"
                failed=$((failed + 1))
        fi
done
if [ "$failed" != 0 ]; then
        echo "--- console tail ---"
        tail -n 30 "$console"
        fail "$failed case(s) failed inside the guest"
fi
pass "all $(echo "$expected" | wc -w) cases passed inside the guest"
