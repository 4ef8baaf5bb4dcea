#!/bin/bash
# One command grammar (issue 10): `xvsched stop` alone no longer stops the
# daemon (exit 2, one line with the hint, the daemon keeps running); daemon
# control is `xvsched daemon run|status|reload|stop`, with `status` as a
# short alias; GNU long options (`--for`, `--via`, `--ticks`), the old
# KEY=VALUE spellings accepted with a deprecation warning; `--help`,
# `--version`, exit 2 on usage errors; the bash completion generated from
# the command table is valid bash and completes `da` to `daemon`.  No guest
# needed: the domain is a local host process (-l NAME=pid:PID).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_root
require_cmd timeout python3

X="$XV_BUILD/src/cli/xvsched"
export XVSCHED_STATE_DIR="$XV_TEST_DIR/state"

# rc CMD...: its exit status, output to $out (stdout) and $err (stderr).
rc() {
        local r=0
        "$@" >"$XV_TEST_DIR/out" 2>"$XV_TEST_DIR/err" || r=$?
        out=$(cat "$XV_TEST_DIR/out") err=$(cat "$XV_TEST_DIR/err")
        return $r
}

# --version, --help, usage errors.
rc "$X" --version || fail "--version exited $?"
assert_match '^xvsched [0-9]' "$out" "--version"
rc "$X" ps --help || fail "ps --help exited $?"
assert_match 'Usage: xvsched .*ps DOMAIN' "$out" "ps --help usage line"
assert_match '--via agent\|qga\|vmi\|auto' "$out" "ps --help lists --via"
r=0; rc "$X" ps dom --no-such-option || r=$?
assert_eq 2 "$r" "exit status of an unknown option"
assert_eq 1 "$(printf '%s\n' "$err" | wc -l)" "lines for an unknown option ($err)"
assert_match "unknown option '--no-such-option'" "$err" "unknown option message"
r=0; rc "$X" nosuchcommand || r=$?
assert_eq 2 "$r" "exit status of an unknown command"
r=0; rc "$X" stop dom 1 --for 5x || r=$?
assert_eq 2 "$r" "exit status of a bad --for ($err)"

# check --json prints JSON.
printf '[domain t]\n' >"$XV_TEST_DIR/t.conf"
rc "$X" check "$XV_TEST_DIR/t.conf" --json || fail "check --json exited $?: $err"
printf '%s' "$out" | python3 -c 'import json,sys; assert json.load(sys.stdin)["domains"] == 1' ||
        fail "check --json: $out"

# The completion script: valid bash, from the command table.
rc "$X" completion bash || fail "completion bash exited $?: $err"
printf '%s\n' "$out" >"$XV_TEST_DIR/completion.bash"
bash -n "$XV_TEST_DIR/completion.bash" || fail "the completion script is not valid bash"
got=$(bash -c '. "$1"; COMP_WORDS=(xvsched da); COMP_CWORD=1; _xvsched; echo "${COMPREPLY[*]}"' _ "$XV_TEST_DIR/completion.bash")
assert_eq daemon "$got" "completion of 'xvsched da'"
got=$(bash -c '. "$1"; COMP_WORDS=(xvsched ps dom --via ""); COMP_CWORD=4; _xvsched; echo "${COMPREPLY[*]}"' _ "$XV_TEST_DIR/completion.bash")
assert_eq "agent qga vmi auto" "$got" "completion of 'xvsched ps dom --via '"

# A daemon on a local domain.
sleep 100000 &
host_pid=$!
xv_on_exit "kill $host_pid 2>/dev/null || true"
L=(-l "t=pid:$host_pid")
"$X" "${L[@]}" daemon run "$XV_TEST_DIR/t.conf" --interval 100ms >"$XV_TEST_DIR/daemon.log" 2>&1 &
daemon_pid=$!
xv_on_exit "kill -TERM $daemon_pid 2>/dev/null && wait $daemon_pid 2>/dev/null"
for ((i = 0; i < 300; i++)); do
        [ -S "$XVSCHED_STATE_DIR/control.sock" ] && "$X" daemon status >/dev/null 2>&1 && break
        kill -0 "$daemon_pid" 2>/dev/null || fail "xvsched daemon run exited: $(cat "$XV_TEST_DIR/daemon.log")"
        sleep 0.1
done
rc "$X" daemon status || fail "daemon status exited $?: $err"
rc "$X" status || fail "status exited $?: $err"
rc "$X" daemon status --json || fail "daemon status --json exited $?: $err"
printf '%s' "$out" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null ||
        fail "daemon status --json is not JSON: $out"

# `xvsched stop` alone: refused, nothing stopped.
r=0; rc "$X" stop || r=$?
assert_eq 2 "$r" "exit status of 'xvsched stop' alone"
assert_eq "xvsched: error: xvsched stop needs DOMAIN PID|COMM; to stop the daemon: xvsched daemon stop" "$err" \
        "the refusal of 'xvsched stop'"
sleep 0.5
kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon exited after 'xvsched stop'"
rc "$X" status || fail "status after 'xvsched stop' exited $?: $err"

# `daemon stop` with a run option is a usage error, and stops nothing.
r=0; rc "$X" daemon stop --ticks 3 || r=$?
assert_eq 2 "$r" "exit status of 'daemon stop --ticks 3'"
kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon exited after a refused 'daemon stop --ticks 3'"

# `daemon stop` stops it.
rc "$X" daemon stop || fail "daemon stop exited $?: $err"
for ((i = 0; i < 100; i++)); do
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
done
kill -0 "$daemon_pid" 2>/dev/null && fail "the daemon still runs 10 s after 'daemon stop'"
wait "$daemon_pid" || fail "the daemon exited with $? after 'daemon stop': $(tail -5 "$XV_TEST_DIR/daemon.log")"

# The old spellings still work, with a warning: ticks=, and via= (the
# domain has no agent, so ps fails after the warning, not on the syntax).
rc timeout 60 "$X" "${L[@]}" run "$XV_TEST_DIR/t.conf" ticks=2 || fail "run ticks=2 exited $?: $err"
assert_match 'warning: ticks=2 is deprecated; use --ticks 2' "$err" "deprecation warning for ticks="
r=0; rc "$X" "${L[@]}" ps t via=vmi || r=$?
assert_match 'warning: via=vmi is deprecated; use --via vmi' "$err" "deprecation warning for via="
[ "$r" != 2 ] || fail "ps t via=vmi is a usage error: $err"
r=0; rc "$X" "${L[@]}" ps t via=nonsense || r=$?
assert_eq 2 "$r" "exit status of via=nonsense ($err)"
rc timeout 60 "$X" "${L[@]}" run "$XV_TEST_DIR/t.conf" --ticks 2 || fail "run --ticks 2 exited $?: $err"
case $err in *deprecated*) fail "--ticks warned: $err" ;; esac

pass
