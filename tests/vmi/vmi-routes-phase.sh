# Sourced by vmi-stopcont.sh (its guest sc, busy loop $busy, $X, the test's
# own XVSCHED_STATE_DIR): the kcall route disabled on the kernel the guest
# runs (docs/agentless.md, "Routes disabled per kernel").
#  - bad input to `route disable`: one error line, exit != 0, nothing written;
#  - `list --routes --json` (one run: it attaches to every QEMU on the host)
#    shows the release the guest really runs (the one in
#    $XV_IMAGE/vmlinuz) and the route disabled with its reason;
#  - `stop --via vmi` with no agent is refused in one line naming the
#    kernel and the reason; nothing paused, nothing journaled, the busy loop
#    still runs;
#  - `route enable`: the agentless cycles after this phase (vmi-stopcont.sh)
#    call the guest kernel again.
ROUTE=vmi-sigstop+gdbstub-kcall
ROUTE_RE="vmi-sigstop\\+gdbstub-kcall"   # for grep -E
routes_t0=$(date +%s%N)
rel=""
command -v file >/dev/null && rel=$(file -b "$XV_IMAGE/vmlinuz" | sed -n 's/.*, version \([^ ]*\) .*/\1/p')
[ -n "$rel" ] || rel=$(grep -aom1 'Linux version [^ ]*' "$XV_IMAGE/vmlinux" 2>/dev/null | cut -d' ' -f3 || true)
[ -n "$rel" ] || fail "cannot tell the guest kernel's release from $XV_IMAGE/vmlinuz"
for bad in "nope $rel --why x" "$ROUTE bad/kernel --why x" "$ROUTE $rel" "$ROUTE $rel --why $(printf 'r%.0s' {1..300})"; do
        rc=0
        out=$("$X" route disable $bad 2>&1) || rc=$?
        [ "$rc" != 0 ] || fail "route disable $bad succeeded"
        [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "route disable $bad: not one line: $out"
done
[ ! -e "$XVSCHED_STATE_DIR/routes.json" ] || fail "a refused route disable wrote routes.json"

why="test: soak failed, renice_fail=1"
"$X" route disable "$ROUTE" "$rel" --why "$why" >/dev/null || fail "route disable failed"
out=$("$X" route list) || fail "route list failed: $out"
assert_match "$rel +$ROUTE_RE +disabled .*manual +$why" "$out" "route list"

t=$(date +%s%N)
out=$("$X" -b qmp list --routes --json) || fail "list --routes failed: $out"
list_ms=$((($(date +%s%N) - t) / 1000000)) n_dom=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' <<<"$out")
got=$(python3 -c 'import json,sys
for d in json.load(sys.stdin):
    if d["name"] == "sc":
        r = d["agentless_route"]
        print(r["kernel"], r["status"], r["reason"], sep="|")' <<<"$out")
[ "$got" = "$rel|disabled|$why" ] || fail "list --routes for sc: '$got' (wanted '$rel|disabled|$why')"

# the stop is refused before anything changes
rc=0 t=$(date +%s%N)
out=$(XVSCHED_TEST_VMI_NO_AGENT=1 "$X" -b qmp stop sc "$busy" --via vmi --for 1 2>&1) || rc=$?
stop_ms=$((($(date +%s%N) - t) / 1000000))
[ "$rc" != 0 ] || fail "stop --via vmi on a kernel with the route disabled succeeded: $out"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "the refusal is not one line: $out"
assert_match "kcall disabled on $rel: $why" "$out" "refusal names the kernel and the reason"
! grep -qE '"(pause|guest-stop)"' "$XVSCHED_STATE_DIR/state.json" 2>/dev/null ||
        fail "the refused stop journaled a change: $(cat "$XVSCHED_STATE_DIR/state.json")"
st=$(vm qmp sc '{"execute":"query-status"}')
assert_match '"running": *true' "$st" "VM run state after the refused stop"
s=$(state_of)
[[ $s =~ ^[RS]$ ]] || fail "the busy loop is '$s' after the refused stop"

"$X" route enable "$ROUTE" "$rel" >/dev/null || fail "route enable failed"
assert_match "$rel +$ROUTE_RE +ok " "$("$X" route list)" "route list after enable"
log "routes: disabled on $rel, refused in one line ('$out'), enabled again: $((($(date +%s%N) - routes_t0) / 1000000)) ms (list --routes of $n_dom domains on this host $list_ms ms, the refused stop $stop_ms ms)"
