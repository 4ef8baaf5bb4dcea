#!/usr/bin/env bash
# Benchmark of introspection on real TCG guests (KASLR on), recorded in
# docs/vmi.md:  XV_BUILD=$PWD/build bash tools/bench/vmi-bench.sh [OUT.jsonl]
# For each thread count (about 50, 500 and 2,000 threads in the guest) boots
# a 2-vCPU guest whose command starts vmi-threads (a static helper in a
# bench image, build/guest-vmi), then runs vmi-bench (with QMP `xp` for
# comparison) and prints one JSON line per guest.  Optionally, with
# XV_VMI_SOAK=N, also runs N stop/resume cycles (vmi-ctl cycles) on a busy
# loop in the 50-thread guest.  XV_VMI_MEMFD=1 gives the guests their RAM as a
# shared memfd (read through a mapping instead of process_vm_readv);
# XV_VMI_SPECS="50:0 500:445" picks the thread counts (LABEL:EXTRA_THREADS).
. "$(dirname "$0")/../../tests/lib/common.sh"
require_vm
OUT=${1:-$XV_TEST_DIR/vmi-bench.jsonl}
BENCH=$XV_BUILD/tools/bench/vmi-bench
CTL=$XV_BUILD/tools/ctl/vmi-ctl
THREADS=$XV_BUILD/tools/bench/vmi-threads
for b in "$BENCH" "$CTL" "$THREADS"; do [ -x "$b" ] || fail "$b is not built"; done
IMG=$XV_BUILD/guest-vmi
mkdir -p "$IMG"
[ -e "$IMG/cache" ] || [ ! -d "$XV_IMAGE/cache" ] || ln -s "$XV_IMAGE/cache" "$IMG/cache"
"$XV_SRC/tools/vm/mkimage" --out "$IMG" "$XV_BUILD/agent/xvagent" "$THREADS" >&2 || fail "cannot build $IMG"
: > "$OUT"
suffix=""
if [ "${XV_VMI_MEMFD:-0}" = 1 ]; then
        cat > "$XV_TEST_DIR/qemu-memfd" <<EOQ
#!/bin/sh
exec ${XV_QEMU:-qemu-system-x86_64} "\$@" -object memory-backend-memfd,id=ram0,size=512M,share=on -machine memory-backend=ram0
EOQ
        chmod +x "$XV_TEST_DIR/qemu-memfd"
        export XV_QEMU=$XV_TEST_DIR/qemu-memfd
        suffix=-memfd
fi

# the guest has ~55 tasks of its own (kernel threads, init, agent)
for spec in ${XV_VMI_SPECS:-50:0 500:445 2000:1945}; do
        label=${spec%%:*}
        extra=${spec#*:}
        cmd='sh -c "while :; do :; done" &
sleep 100000 &'
        [ "$extra" -gt 0 ] && cmd="$cmd
vmi-threads $extra &"
        cmd="$cmd
sleep 100000"
        n=b$label
        vm start --name "$n" --image "$IMG" --cpus 2 --mem 512 --agent --stay --cmd "$cmd" >/dev/null
        vm wait "$n" --timeout 180
        if [ "$extra" -gt 0 ]; then
                console_has "$n" "vmi-threads: $extra" 120 || fail "$n: vmi-threads did not start $extra threads"
        fi
        sleep 3
        pid=$(vm pid "$n")
        line=$("$BENCH" --pid "$pid" --qmp "$XV_RUN/$n.qmp" --xp --reps 100 --label "threads-$label$suffix") ||
                fail "$n: vmi-bench failed"
        echo "$line" | tee -a "$OUT"
        if [ "$label" = 50 ] && [ "${XV_VMI_SOAK:-0}" -gt 0 ]; then
                busy=$("$CTL" --pid "$pid" --qmp "$XV_RUN/$n.qmp" ps | awk -F'\t' '$7 == "sh" && $8 ~ /while/ { print $2; exit }')
                soak=$("$CTL" --pid "$pid" --qmp "$XV_RUN/$n.qmp" --agent "$XV_RUN/$n.agent" --hold-ms 20 \
                        cycles "$busy" "$XV_VMI_SOAK") || fail "soak: $soak"
                echo "$soak" | tail -1 | tee -a "$OUT"
                if tr -d '\r' < "$(vm console "$n")" | grep -E 'Oops|BUG|WARNING|Call Trace'; then
                        fail "soak: the guest console shows a kernel problem"
                fi
        fi
        vm stop "$n"
done
pass "results in $OUT"
