#!/bin/bash
# Paper 002's case on real guests: VM web runs WEB (lighttpd), VM db runs DB
# (postgres) and BACKUP (tar, idle class), all CPU-bound on one core.
# Under full contention xvsched gives DB > WEB > BACKUP and keeps BACKUP
# near zero.  Then the safety net: a reload with a broken config keeps the
# old rules; SIGTERM restores everything; after kill -9 the agent's lease
# resumes BACKUP and the next start restores what was left.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
require_vm
. "$(dirname "$0")/../lib/policy.sh"

vm start --name pweb --pvh --agent --stay --cmd "$GUEST_LIB b lighttpd; sleep 100000" >/dev/null
vm start --name pdb --pvh --agent --stay --cmd "$GUEST_LIB b postgres; b tar; sleep 100000" >/dev/null
vm wait pweb
vm wait pdb

conf=$XV_TEST_DIR/web-db.conf
sed -e 's/^\[domain web\]$/[domain web]\nmatch = pweb\ncpus = 0/' -e 's/^\[domain db\]$/[domain db]\nmatch = pdb\ncpus = 0/' \
        "$XV_SRC/examples/web-db-backup.conf" >"$conf"
timeline=$XV_TEST_DIR/timeline.jsonl
daemon_start "$conf" --timeline "$timeline"

# wait_backup_stopped SECONDS: until the status shows BACKUP stopped.
wait_backup_stopped() {
        local i
        for ((i = 0; i < $1 * 10; i++)); do
                [[ "$("$X" status 2>/dev/null)" =~ backup\ +db\ +idle\ .*\ stopped ]] && return 0
                sleep 0.1
        done
        return 1
}
# Settle: views open, levers applied (BACKUP stopped shows both), then 1 s more.
wait_backup_stopped 10 || true
sleep 1
: >"$timeline.mark"
lines0=$(wc -l <"$timeline")
sleep 7     # 70 ticks of 100 ms
# Average steal-corrected CPU of each task over the 7 s, from the timeline.
read -r db web backup stopped_pct < <(tail -n +"$((lines0 + 1))" "$timeline" | python3 -c '
import json, sys
ticks = [json.loads(l) for l in sys.stdin]
cpu = {"db": [], "web": [], "backup": []}
stopped = 0
for t in ticks:
    for x in t["tasks"]:
        cpu[x["task"]].append(x["cpu_pct"])
        if x["task"] == "backup" and x["state"] == "stopped":
            stopped += 1
avg = {k: sum(v) / max(len(v), 1) for k, v in cpu.items()}
print(round(avg["db"], 1), round(avg["web"], 1), round(avg["backup"], 1), round(100 * stopped / max(len(ticks), 1)))')
echo "achieved CPU %: DB $db  WEB $web  BACKUP $backup  (BACKUP stopped in $stopped_pct % of ticks)"
python3 -c "import sys; d,w,b=map(float,sys.argv[1:]); sys.exit(0 if d > w > b else 1)" "$db" "$web" "$backup" ||
        fail "expected DB > WEB > BACKUP, got $db / $web / $backup"
in_range "$backup" 0 5 || fail "BACKUP got $backup % while DB and WEB were runnable"
[ "$stopped_pct" -ge 85 ] || fail "BACKUP was stopped in only $stopped_pct % of the ticks"
status=$("$X" status)
echo "$status"
assert_match "backup +db +idle .* stopped" "$status" "status shows BACKUP stopped"

# A broken config on reload: one line naming file, line and problem; old rules kept.
cp "$conf" "$conf.good"
printf '\n[task extra]\ndomain = db\ncomm = x\nclass = sometimes\n' >>"$conf"
if out=$("$X" reload 2>&1); then fail "reload of a broken config succeeded"; fi
assert_match "web-db.conf:[0-9]+: class = sometimes: expected normal, idle or rt" "$out" "reload error names file and line"
assert_match "backup +db +idle .* stopped" "$("$X" status)" "old rules still enforced after a failed reload"
cp "$conf.good" "$conf"
"$X" reload >/dev/null

# SIGTERM: everything restored.
daemon_stop
assert_eq 0 "$(journal_entries)" "journal empty after SIGTERM"
[ ! -d /sys/fs/cgroup/cpu/xvsched-pdb ] || fail "the pdb cgroup was left behind"
assert_match "tar +running" "$("$X" -b qmp ps pdb)" "BACKUP runs again after the daemon exits"

# kill -9 while BACKUP is stopped: the agent resumes it within its lease,
# and the next start restores the host levers it left.
daemon_start "$conf"
wait_backup_stopped 4 || true
assert_match "backup +db +idle .* stopped" "$("$X" status)" "BACKUP stopped again"
n0=$(wc -l <"$(vm console pdb)")
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
left=$(journal_entries)
[ "$left" -gt 0 ] || fail "a killed daemon left no record of its changes"
# The agent's lease is 5 s: its console says when it restores (7 s at most),
# watched without talking to it.
for ((i = 0; i < 70; i++)); do
        tail -n +"$((n0 + 1))" "$(vm console pdb)" | grep -q 'past the lease: restoring' && break
        sleep 0.1
done
assert_match "tar +running" "$("$X" -b qmp ps pdb)" "the agent resumed BACKUP after the daemon died"
"$X" -b qmp run "$conf" --ticks 3 >"$XV_TEST_DIR/restart.log" 2>&1 || fail "restart failed: $(cat "$XV_TEST_DIR/restart.log")"
assert_match "found $left values? left by a previous run" "$(cat "$XV_TEST_DIR/restart.log")" "restart recovers"
assert_eq 0 "$(journal_entries)" "journal empty after the recovering run exits"
pass
