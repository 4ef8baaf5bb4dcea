# shellcheck shell=bash
# Helpers for the policy-loop experiments (sourced after common.sh).

X="$XV_BUILD/src/cli/xvsched"
export XVSCHED_STATE_DIR="$XV_TEST_DIR/state"

# Guest script fragment: b NAME makes /tmp/NAME, a CPU-bound shell loop
# whose comm is NAME, and starts it.  mk NAME only makes it.
GUEST_LIB='mk(){ printf "#!/bin/sh\nwhile :; do :; done\n" >/tmp/$1; chmod +x /tmp/$1; }; b(){ mk $1; /tmp/$1 & };'

# daemon_start CONFIG [ARGS...]: xvsched run in the background; waits for
# its control socket.  DAEMON_PID is set.
daemon_start() {
        "$X" -b qmp run "$@" >"$XV_TEST_DIR/daemon.log" 2>&1 &
        DAEMON_PID=$!
        # Never leave it running: stop it (it restores) before the guests go.
        xv_on_exit "kill -TERM $DAEMON_PID 2>/dev/null && wait $DAEMON_PID 2>/dev/null"
        local i
        # 30 s at most: a loaded host (load 30) took more than 10 s to start it.
        for ((i = 0; i < 300; i++)); do
                [ -S "$XVSCHED_STATE_DIR/control.sock" ] && "$X" status >/dev/null 2>&1 && return 0
                kill -0 "$DAEMON_PID" 2>/dev/null || fail "xvsched run exited: $(cat "$XV_TEST_DIR/daemon.log")"
                sleep 0.1
        done
        fail "xvsched run did not come up: $(cat "$XV_TEST_DIR/daemon.log")"
}

# daemon_stop: SIGTERM and wait; fails if it did not exit cleanly.
daemon_stop() {
        kill -TERM "$DAEMON_PID"
        wait "$DAEMON_PID" || fail "xvsched run exited with $?: $(tail -5 "$XV_TEST_DIR/daemon.log")"
}

# journal_entries: how many values the state file still holds.
journal_entries() {
        python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["entries"]))' "$XVSCHED_STATE_DIR/state.json"
}

# vcpu_cpu_ns NAME: host CPU of a guest's vCPU threads (every "CPU n/" thread).
vcpu_cpu_ns() {
        local pid t sum=0 ns
        pid=$(vm pid "$1")
        for t in /proc/"$pid"/task/*; do
                grep -q '^CPU ' "$t/comm" 2>/dev/null || continue
                ns=$(thread_cpu_ns "$pid" "${t##*/}") || continue
                sum=$((sum + ns))
        done
        echo "$sum"
}

# measure_vcpus SECONDS NAME...: "name pct" lines, the % of one CPU each
# guest's vCPUs got over the window, all measured at once.
measure_vcpus() {
        local secs=$1 g
        shift
        local -A a0
        local t0 t1
        t0=$(date +%s%N)
        for g in "$@"; do a0[$g]=$(vcpu_cpu_ns "$g"); done
        sleep "$secs"
        t1=$(date +%s%N)
        for g in "$@"; do
                echo "$g $(python3 -c "print(round(($(vcpu_cpu_ns "$g") - ${a0[$g]}) / ($t1 - $t0) * 100, 1))")"
        done
}

# in_range VALUE LOW HIGH
in_range() { python3 -c "import sys; v,l,h=map(float,sys.argv[1:]); sys.exit(0 if l<=v<=h else 1)" "$@"; }
