/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The POSIX sh scripts xvsched runs in the guest through qemu-guest-agent's
 * guest-exec (`/bin/sh -c SCRIPT xvsched-qga ARGS...`).  Arguments are
 * passed as separate argv entries, never pasted into the script text.
 * docs/qga.md describes them; tests/integration/qga-view.sh runs them
 * against the real qemu-ga, and they run under dash, bash and busybox sh.
 *
 * State lives in D (/run/xvsched-qga, or /tmp/xvsched-qga where there is no
 * /run; qemu-ga's environment may name another in XVSCHED_QGA_DIR, as the
 * integration test does), a directory owned by root, mode 0700:
 *   beat     the host's heartbeat token, rewritten by every host call
 *   stop     "PID STARTTIME" per process this host stopped
 *   nice     "TID STARTTIME NICE" per thread this host reniced (first original)
 *   wd.pid   the watchdog's pid
 * Exit codes: 3 no such process, 4 not allowed (init, kernel thread,
 * qemu-ga itself), 5 the signal failed, 90/91 no safe state directory. */

/* Shared by every script: D; rd FILE reading a /proc stat file into l whole
 * (a comm may hold a newline: its lines are joined with '?'); nf LINE
 * setting St (state), N (nice), S (start time), F (flags), T (threads) from
 * a stat line (fields after the comm's last ") "); wdalive: the watchdog
 * named in D/wd.pid ("PID STARTTIME") runs, W its pid (a reused pid is not
 * the watchdog). */
#define QGA_SH_PRELUDE                                                                                 \
        "exec 2>/dev/null\n"                                                                           \
        "D=/run/xvsched-qga; [ -d /run ] || D=/tmp/xvsched-qga; D=${XVSCHED_QGA_DIR:-$D}\n"              \
        "rd() { l=; m=; { read -r l; while read -r m; do l=\"$l?$m\"; done; } < $1; [ -n \"$l\" ]; }\n"   \
        "nf() { r=${1##*) }; set -- $r; St=$1; N=${17}; S=${20}; F=${7}; T=${18}; }\n"                \
        "safe() { [ -d $D ] && [ ! -L $D ] && [ -O $D ]; }\n"                                          \
        "mk() { umask 077; mkdir -p $D; safe || exit 91; }\n"                                          \
        "sn() { renice -n \"$2\" -p \"$1\" >/dev/null 2>&1; rd /proc/$1/stat || return 1; nf \"$l\";\n" \
        "  [ \"$N\" = \"$2\" ] && return 0\n"                                                          \
        "  renice -n $(( $2 - N )) -p \"$1\" >/dev/null 2>&1; rd /proc/$1/stat || return 1; nf \"$l\";\n" \
        "  [ \"$N\" = \"$2\" ]; }\n"                                                                   \
        "undo() { u=0\n"                                                                              \
        "  if [ -f $D/stop ]; then while read -r p st; do\n"                                           \
        "    rd /proc/$p/stat || continue; nf \"$l\"; [ \"$S\" = \"$st\" ] && kill -CONT \"$p\" && u=$((u+1))\n" \
        "  done < $D/stop; rm -f $D/stop; fi\n"                                                        \
        "  if [ -f $D/nice ]; then while read -r t st v; do\n"                                         \
        "    rd /proc/$t/stat || continue; nf \"$l\"; [ \"$S\" = \"$st\" ] && sn \"$t\" \"$v\" && u=$((u+1))\n" \
        "  done < $D/nice; rm -f $D/nice; fi; }\n"                                                     \
        "wdalive() { W=; ws=; read -r W ws < $D/wd.pid && [ -n \"$ws\" ] && rd /proc/$W/stat && nf \"$l\" &&\n" \
        "  [ \"$S\" = \"$ws\" ]; }\n"                                                                  \
        "wdstart() { if ! wdalive; then\n"                                                          \
        "  sh -c \"$1\" xvsched-qga-wd \"$D\" \"$2\" </dev/null >/dev/null 2>&1 & W=$!\n"              \
        "  rd /proc/$W/stat && nf \"$l\" && echo \"$W $S\" > $D/wd.pid; fi; }\n"

/* The watchdog: $1 = D, $2 = lease in seconds.  Counts 1 s steps without a
 * new heartbeat token; at the lease it undoes everything and exits.  It
 * exits by itself once nothing is held. */
#define QGA_SH_WATCHDOG                                                                                \
        QGA_SH_PRELUDE                                                                                 \
        "D=$1; lease=$2; last=; n=0; rd /proc/$$/stat; nf \"$l\"; me=\"$$ $S\"; echo \"$me\" > $D/wd.pid\n" \
        "while :; do\n"                                                                                \
        "  b=; read -r b < $D/beat\n"                                                                  \
        "  if [ \"$b\" = \"$last\" ]; then n=$((n+1)); else n=0; last=$b; fi\n"                        \
        "  if [ $n -ge $lease ]; then undo; rm -f $D/wd.pid; exit 0; fi\n"                             \
        "  if [ ! -s $D/stop ] && [ ! -s $D/nice ]; then rm -f $D/wd.pid\n"                            \
        "    if [ ! -s $D/stop ] && [ ! -s $D/nice ]; then exit 0; fi; echo \"$me\" > $D/wd.pid; fi\n"  \
        "  sleep 1\n"                                                                                  \
        "done\n"

/* The reader: $1 = heartbeat token (renewed only where D exists), $2 = the
 * pids whose command line the host has already (space-separated; their
 * C lines are left out, so a steady poll forks nothing).  Prints
 *   XVQGA1
 *   S TGID <the thread's /proc/TGID/task/TID/stat line>   per thread
 *     (a single-threaded process's /proc/TGID/stat: no walk of its task/)
 *   C TGID <cmdline, NULs and newlines as spaces>          per user process not in $2
 *   E
 * and leaves itself out.  The C lines come last, from one awk over every
 * command line (mawk, gawk; busybox awk keeps only argv[0]), or from one tr
 * per process where there is no awk.  awk reads each file with getline: a
 * process gone since the walk is skipped (mawk, given it as an input file,
 * stops there, and every later process had no command line). */
#define QGA_SH_READER                                                                                  \
        QGA_SH_PRELUDE                                                                                 \
        "if [ -n \"$1\" ] && safe; then echo \"$1\" > $D/beat; fi\n"                                   \
        "k=\" $2 \"; u=; echo XVQGA1; echo \"A $PPID\"; if safe && wdalive; then echo \"A $W\"; fi\n"          \
        "for p in /proc/[0-9]*; do\n"                                                                  \
        "  q=${p#/proc/}; [ \"$q\" = \"$$\" ] && continue; F=0\n"                                      \
        "  rd $p/stat || continue; nf \"$l\"\n"                                                          \
        "  if [ \"$T\" = 1 ]; then printf 'S %s %s\\n' \"$q\" \"$l\"\n"                                     \
        "  else for t in $p/task/[0-9]*; do\n"                                                         \
        "    rd $t/stat && printf 'S %s %s\\n' \"$q\" \"$l\"\n"                                            \
        "  done; fi\n"                                                                                 \
        "  [ $(( ${F:-0} & 2097152 )) = 0 ] || continue\n"                                             \
        "  case $k in *\" $q \"*) continue;; esac\n"                                                     \
        "  u=\"$u $p/cmdline\"\n"                                                                       \
        "done\n"                                                                                       \
        "if [ -z \"$u\" ]; then :; elif command -v awk >/dev/null; then\n"                              \
        "  awk 'BEGIN { RS = \"\\000\"; for (i = 1; i < ARGC; i++) { f = ARGV[i]; n = 0\n"                 \
        "    while ((getline x < f) > 0) { if (n++ == 0) { q = f; sub(/^\\/proc\\//, \"\", q);\n"             \
        "        sub(/\\/cmdline$/, \"\", q); printf \"C %s \", q }\n"                                       \
        "      gsub(/\\n/, \" \", x); printf \"%s \", x }\n"                                                  \
        "    if (n > 0) printf \"\\n\"; close(f) } }' $u; echo\n"                                            \
        "else for f in $u; do q=${f#/proc/}; printf 'C %s ' \"${q%/cmdline}\"; tr '\\000\\n' '  ' < $f; echo; done\n" \
        "fi\n"                                                                                         \
        "echo E\n"

/* Checks shared by stop and nice: $p exists, is not init, a kernel thread,
 * qemu-ga (the scripts' parent, by pid: not by a name any process can take)
 * or one of its threads, or the watchdog. */
#define QGA_SH_CHECK_TARGET                                                                            \
        "rd /proc/$p/stat || exit 3\n"                                                                 \
        "[ \"$p\" != \"$PPID\" ] && [ ! -e /proc/$PPID/task/$p ] || exit 4\n"                           \
        "if wdalive && [ \"$p\" = \"$W\" ]; then exit 4; fi; rd /proc/$p/stat\n"                        \
        "nf \"$l\"; [ \"$p\" != 1 ] && [ $(( F & 2097152 )) = 0 ] || exit 4\n"

/* stop: $1 pid, $2 lease, $3 token, $4 watchdog script.  A process already
 * stopped by someone else (state T or t, not in D/stop) is left as it is and
 * not recorded: neither release nor the watchdog resumes it.  Prints 1, or 0
 * for such a process. */
#define QGA_SH_STOP                                                                                    \
        QGA_SH_PRELUDE                                                                                 \
        "p=$1; lease=$2; tok=$3; wd=$4; mk\n"                                                          \
        QGA_SH_CHECK_TARGET                                                                            \
        "echo \"$tok\" > $D/beat; o=\n"                                                               \
        "if [ -f $D/stop ]; then while read -r a b; do [ \"$a $b\" = \"$p $S\" ] && o=1; done < $D/stop; fi\n" \
        "case $St in [Tt]) [ -n \"$o\" ] || { echo 0; exit 0; };; esac\n"                                \
        "[ -n \"$o\" ] || echo \"$p $S\" >> $D/stop\n"                                                   \
        "wdstart \"$wd\" \"$lease\"\n"                                                                 \
        "kill -STOP \"$p\" || exit 5\n"                                                                \
        "echo 1\n"

/* cont: $1 pid, $2 token. */
#define QGA_SH_CONT                                                                                    \
        QGA_SH_PRELUDE                                                                                 \
        "p=$1\n"                                                                                       \
        "[ -e /proc/$p/stat ] || exit 3\n"                                                             \
        "kill -CONT \"$p\" || exit 5\n"                                                                \
        "if safe; then echo \"$2\" > $D/beat\n"                                                        \
        "  if [ -f $D/stop ]; then while read -r a b; do [ \"$a\" = \"$p\" ] || echo \"$a $b\"; done < $D/stop > $D/stop.new\n" \
        "    mv -f $D/stop.new $D/stop; fi; fi\n"                                                      \
        "echo 1\n"

/* nice: $1 pid, $2 nice, $3 lease, $4 token, $5 watchdog script.  Prints
 * the number of threads changed. */
#define QGA_SH_NICE                                                                                    \
        QGA_SH_PRELUDE                                                                                 \
        "p=$1; v=$2; lease=$3; tok=$4; wd=$5; mk\n"                                                    \
        QGA_SH_CHECK_TARGET                                                                            \
        "echo \"$tok\" > $D/beat; k=0\n"                                                               \
        "for t in /proc/$p/task/[0-9]*; do\n"                                                          \
        "  i=${t##*/}; read -r l < $t/stat || continue; nf \"$l\"; o=\n"                               \
        "  if [ -f $D/nice ]; then while read -r a b c; do [ \"$a $b\" = \"$i $S\" ] && o=1; done < $D/nice; fi\n" \
        "  [ -n \"$o\" ] || echo \"$i $S $N\" >> $D/nice\n"                                            \
        "  sn \"$i\" \"$v\" && k=$((k+1))\n"                                                           \
        "done\n"                                                                                       \
        "wdstart \"$wd\" \"$lease\"\n"                                                                 \
        "echo $k\n"

/* keepalive: $1 token. */
#define QGA_SH_BEAT                                                                                    \
        QGA_SH_PRELUDE                                                                                 \
        "if safe; then echo \"$1\" > $D/beat; fi\n"                                                    \
        "echo 1\n"

/* release: undo everything now.  Prints how many. */
#define QGA_SH_RELEASE                                                                                 \
        QGA_SH_PRELUDE                                                                                 \
        "u=0; if safe; then undo; fi\n"                                                                \
        "echo $u\n"
