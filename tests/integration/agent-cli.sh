#!/bin/bash
# xvsched ps/stop/cont/nice against the real xvagent in a real guest: the
# guest's own /proc (printed to its console every half second) and the VM's
# host CPU use show the effect; killing xvsched while a process is stopped
# leaves it stopped only until the agent's lease runs out.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_vm
[ -x "$XV_BUILD/agent/xvagent" ] || skip "xvagent is not built"

X="$XV_BUILD/src/cli/xvsched"
# A CPU-bound process named "burn" and a sleeper; the guest reports burn's
# state and nice (fields 3 and 19 of its stat) on the console.
guest_cmd='printf "#!/bin/sh\nwhile :; do :; done\n" >/tmp/burn
chmod +x /tmp/burn
/tmp/burn &
b=$!
sleep 100000 &
while :; do echo "MON $(cut -d" " -f3,19 /proc/$b/stat)"; sleep 0.5; done'
vm start --name ag --pvh --agent --cmd "$guest_cmd" --stay >/dev/null
vm wait ag
pid=$(vm pid ag)
console=$(vm console ag)
# new_mon SINCE REGEX TENTHS: a console line after line SINCE matches REGEX
# within TENTHS tenths of a second (polled: no longer than it takes).
new_mon() {
        local i
        for ((i = 0; i <= $3; i++)); do
                tail -n +"$(($1 + 1))" "$console" | tr -d '\r' | grep -qE -- "$2" && return 0
                sleep 0.1
        done
        return 1
}

# The agent starts after XV-READY's modules; give it a moment to answer.
for i in $(seq 50); do
        "$X" -b qmp ps ag >/dev/null 2>&1 && break
        sleep 0.2
done

ps_out=$("$X" -b qmp ps ag)
echo "$ps_out" | head -20
assert_match ' burn +running ' "$ps_out" "burn is listed as running"
assert_match ' sleep +sleeping ' "$ps_out" "sleep is listed as sleeping"
assert_match '\(xvagent\)' "$ps_out" "the agent reports itself separately"
json=$("$X" -b qmp ps ag --json)
python3 -c 'import json,sys; t=json.load(sys.stdin)["tasks"]; a=[x for x in t if x["is_agent"]]; assert len(a)==1, a' <<<"$json" ||
        fail "ps --json: exactly one agent entry expected"

# QEMU's CPU % over 2 s.
vm_cpu() {
        local a b
        a=$(proc_cpu_ns "$pid"); sleep 2; b=$(proc_cpu_ns "$pid")
        echo $(((b - a) / 20000000))
}
busy=$(vm_cpu)
echo "VM CPU while burn runs: $busy %"
# The machine may be shared: compare against this run's own figures.
[ "$busy" -ge 30 ] || fail "the busy guest uses only $busy % of a CPU"

# stop, held for 6 s in the background.
"$X" -b qmp stop ag burn --for 6 >"$XV_TEST_DIR/stop.out" &
holder=$!
console_has ag '^MON T ' 7 || fail "burn never showed state T in the guest"
idle=$(vm_cpu)
echo "VM CPU while burn is stopped: $idle %"
[ "$idle" -le $((busy / 2)) ] || fail "VM CPU $idle % while its only busy process is stopped (busy: $busy %)"
wait "$holder" || fail "xvsched stop failed: $(cat "$XV_TEST_DIR/stop.out")"
assert_match resumed "$(cat "$XV_TEST_DIR/stop.out")" "stop resumes when its time is up"
again=$(vm_cpu)
echo "VM CPU after resume: $again %"
[ "$again" -ge $((idle * 2)) ] && [ "$again" -ge 30 ] || fail "burn did not run again after the hold ($again %)"

# Kill -9 the host side while burn is stopped: the agent's 5 s lease resumes it.
n0=$(wc -l <"$console")
"$X" -b qmp stop ag burn >/dev/null &
holder=$!
new_mon "$n0" '^MON T ' 50 || fail "burn never showed state T in the guest (second stop)"
kill -9 "$holder"
wait "$holder" 2>/dev/null || true
n0=$(wc -l <"$console")
new_mon "$((n0 - 1))" '^MON R ' 75 || fail "burn was not resumed by the agent's lease after xvsched died"

# nice, held for 3 s: the guest's /proc shows it, then the original again.
"$X" -b qmp nice ag burn 10 --for 3 >/dev/null &
holder=$!
console_has ag '^MON [RS] 10$' 7 || fail "burn's nice never showed 10 in the guest"
wait "$holder"
n1=$(wc -l <"$console")
new_mon "$((n1 - 1))" '^MON [RS] 0$' 15 || fail "burn's nice was not restored"

# cont of a process that is not stopped is harmless; bad names are errors.
"$X" -b qmp cont ag burn >/dev/null
if out=$("$X" -b qmp stop ag nosuchproc 2>&1); then fail "stop of a missing process succeeded"; fi
assert_match "no guest process 'nosuchproc'" "$out" "missing process"
if out=$("$X" -b qmp nice ag burn 42 2>&1); then fail "nice 42 accepted"; fi
assert_match "must be an integer from -20 to 19" "$out" "bad nice"
pass
