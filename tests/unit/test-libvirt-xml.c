/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent channels of a libvirt domain's XML (hv_libvirt_parse_channels). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "hv/hv-libvirt-agent.h"
#include "hv/hv-libvirt-scale.h"
#include "hv/hv.h"
#include "lever/vm-pause.h"
#include "model/domain.h"

static Domain *parse(const char *xml, int expect) {
        Domain *d = domain_new("t", "libvirt");
        assert_non_null(d);
        assert_int_equal(hv_libvirt_parse_channels(xml, strlen(xml), d), expect);
        return d;
}

/* A live XML as libvirt writes it: a unix xvagent channel and the QGA
 * channel libvirt made a path for, a spice channel besides. */
static const char live_xml[] =
        "<domain type='kvm' id='3'>\n"
        "  <name>lb</name>\n"
        "  <devices>\n"
        "    <channel type='spicevmc'>\n"
        "      <target type='virtio' name='com.redhat.spice.0' state='disconnected'/>\n"
        "    </channel>\n"
        "    <channel type='unix'>\n"
        "      <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-3-lb/org.qemu.guest_agent.0'/>\n"
        "      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>\n"
        "      <alias name='channel0'/>\n"
        "    </channel>\n"
        "    <channel type='unix'>\n"
        "      <source mode='bind' path='/tmp/xv/lb.agent'/>\n"
        "      <target type='virtio' name='org.xvsched.agent.0' state='disconnected'/>\n"
        "    </channel>\n"
        "  </devices>\n"
        "</domain>\n";

static void test_both_channels(void **state) {
        (void) state;
        Domain *d = parse(live_xml, 0);
        assert_true(d->xvagent_channel.present);
        assert_string_equal(d->xvagent_channel.type, "unix");
        assert_string_equal(d->xvagent_channel.path, "/tmp/xv/lb.agent");
        assert_string_equal(d->xvagent_channel.state, "disconnected");
        assert_true(d->qga_channel.present);
        assert_string_equal(d->qga_channel.type, "unix");
        assert_string_equal(d->qga_channel.path,
                            "/var/lib/libvirt/qemu/channel/target/domain-3-lb/org.qemu.guest_agent.0");
        assert_string_equal(d->qga_channel.state, "connected");
        domain_free(d);
}

static void test_no_channels(void **state) {
        (void) state;
        Domain *d = parse("<domain type='kvm'><name>x</name><devices><disk type='file'/></devices></domain>", 0);
        assert_false(d->xvagent_channel.present);
        assert_null(d->xvagent_channel.path);
        assert_false(d->qga_channel.present);
        domain_free(d);
        /* no <devices> at all */
        d = parse("<domain type='qemu'><name>x</name></domain>", 0);
        assert_false(d->xvagent_channel.present);
        assert_false(d->qga_channel.present);
        domain_free(d);
}

/* A channel that is not a unix socket on the host (pty, a guest-side
 * name on another target type) has no path we could use. */
static void test_not_unix(void **state) {
        (void) state;
        Domain *d = parse("<domain><devices>"
                          "<channel type='pty'><source path='/dev/pts/7'/>"
                          "<target type='virtio' name='org.xvsched.agent.0'/></channel>"
                          "<channel type='unix'><source mode='bind' path='/x/guestfwd'/>"
                          "<target type='guestfwd' name='org.qemu.guest_agent.0'/></channel>"
                          "</devices></domain>",
                          0);
        assert_true(d->xvagent_channel.present);
        assert_string_equal(d->xvagent_channel.type, "pty");
        assert_null(d->xvagent_channel.path);
        assert_null(d->xvagent_channel.state);
        assert_false(d->qga_channel.present);   /* not a virtio port */
        domain_free(d);
}

/* A port name that merely contains ours, quotes in paths, parsing again
 * replaces what was there. */
static void test_exact_name_and_reparse(void **state) {
        (void) state;
        Domain *d = parse("<domain><devices>"
                          "<channel type='unix'><source path='/a'/>"
                          "<target type='virtio' name='org.xvsched.agent.0.evil'/></channel>"
                          "<channel type='unix'><source mode='bind' path=\"/b'c\"/>"
                          "<target type='virtio' name='org.xvsched.agent.0'/></channel>"
                          "</devices></domain>",
                          0);
        assert_string_equal(d->xvagent_channel.path, "/b'c");
        const char *none = "<domain><devices/></domain>";
        assert_int_equal(hv_libvirt_parse_channels(none, strlen(none), d), 0);
        assert_false(d->xvagent_channel.present);
        assert_null(d->xvagent_channel.path);
        domain_free(d);
}

/* A path we would connect to must be QEMU's own listening socket: a
 * channel in mode='connect' makes QEMU the client of whatever listens
 * there (another process's socket, not the guest's port), and a relative
 * path would be taken from xvsched's working directory.  Neither is used:
 * the channel is present, without a path. */
static void test_connect_mode_and_relative_path(void **state) {
        (void) state;
        Domain *d = parse("<domain><devices>"
                          "<channel type='unix'><source mode='connect' path='/run/someone-else.sock'/>"
                          "<target type='virtio' name='org.xvsched.agent.0'/></channel>"
                          "<channel type='unix'><source mode='bind' path='relative/qga.sock'/>"
                          "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
                          "</devices></domain>",
                          0);
        assert_true(d->xvagent_channel.present);
        assert_null(d->xvagent_channel.path);
        assert_true(d->qga_channel.present);
        assert_null(d->qga_channel.path);
        domain_free(d);
        d = parse("<domain><devices>"
                  "<channel type='unix'><source path='/no/mode.sock'/>"
                  "<target type='virtio' name='org.xvsched.agent.0'/></channel>"
                  "</devices></domain>",
                  0);
        assert_null(d->xvagent_channel.path);   /* libvirt's default mode is connect */
        domain_free(d);
}

/* Not a domain's XML: -EBADMSG, the channels left as they were. */
static void test_bad_input(void **state) {
        (void) state;
        Domain *d = parse(live_xml, 0);
        const char *bad[] = { "", "<domain>", "not xml at all", "<network><devices/></network>",
                              "<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><d>&x;</d>" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_int_equal(hv_libvirt_parse_channels(bad[i], strlen(bad[i]), d), -EBADMSG);
        assert_int_equal(hv_libvirt_parse_channels(NULL, 0, d), -EBADMSG);
        assert_string_equal(d->xvagent_channel.path, "/tmp/xv/lb.agent");
        domain_free(d);
}

/* The guard resumes a VM paused through libvirt (vm_pause_undo()) over a
 * URI that may hang: a libvirtd that accepts and never answers (stuck,
 * stopped with SIGSTOP, a remote host gone quiet).  libvirt's client has
 * no timeout of its own; the undo must still come back in bounded time
 * with an error (the entry kept, tried again), not hold the guard, whose
 * other VMs and stopped threads wait behind it.  Run in a child so that a
 * hang fails the test rather than the run. */
static void test_pause_undo_hanging_uri(void **state) {
        (void) state;
        char dir[] = "/tmp/xvsched-test-lvhang-XXXXXX";
        assert_non_null(mkdtemp(dir));
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof a.sun_path, "%s/sock", dir);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(fd, 16), 0);   /* connects succeed, nothing answers */
        char uri[256];
        snprintf(uri, sizeof uri, "qemu+unix:///system?socket=%s", a.sun_path);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                json_object *e = json_object_new_object();
                json_object_object_add(e, "type", json_object_new_string("pause"));
                json_object_object_add(e, "via", json_object_new_string("libvirt"));
                json_object_object_add(e, "libvirt_uri", json_object_new_string(uri));
                json_object_object_add(e, "uuid", json_object_new_string("6c1d0c5e-3f6b-4b8e-9d59-0f3a3c2b1a00"));
                int r = vm_pause_undo(e);
                json_object_put(e);
                _exit(r < 0 && r != -ESRCH && r != -ESTALE ? 0 : 1);   /* an error to retry: kept */
        }
        int status = 0;
        pid_t w = 0;
        for (int i = 0; i < 300 && (w = waitpid(child, &status, WNOHANG)) == 0; i++)
                usleep(100 * 1000);   /* 30 s: far above the undo's own bound */
        if (w == 0) {
                kill(child, SIGKILL);
                waitpid(child, &status, 0);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        close(fd);
        unlink(a.sun_path);
        rmdir(dir);
        print_message("undo over a hanging URI: %s after %.1f s\n", w == 0 ? "killed" : "returned",
                      (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
        assert_true(w == child);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* Only "no such domain" means the domain is gone: the guard then drops the
 * pause entry (nothing to resume).  Any other failure of the lookup (the
 * connection dropped by a libvirtd that restarts, an RPC error, an entry
 * with a bad uuid) must keep the entry, or the VM stays paused for good.
 * libvirt's in-process test driver (test:///default) stands in: an
 * unknown uuid is gone, a malformed one is an error. */
static void test_lookup_errors_are_not_gone(void **state) {
        (void) state;
        HvOptions o = HV_OPTIONS_DEFAULT;
        o.libvirt_uri = "test:///default";
        char *st = NULL;
        assert_int_equal(hv_libvirt_run_state(&o, "6695eb01-f6a4-8304-79aa-97f2502e193f", &st), 1);   /* "test" */
        assert_string_equal(st, "running");
        free(st);
        st = NULL;
        assert_int_equal(hv_libvirt_run_state(&o, "00000000-0000-0000-0000-00000000abcd", &st), -ENOENT);
        int r = hv_libvirt_run_state(&o, "not-a-uuid", &st);
        assert_true(r < 0 && r != -ENOENT);
        assert_null(st);
        r = hv_libvirt_resume_confirmed(&o, "not-a-uuid", 100, &st);
        assert_true(r < 0 && r != -ENOENT);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "type", json_object_new_string("pause"));
        json_object_object_add(e, "via", json_object_new_string("libvirt"));
        json_object_object_add(e, "libvirt_uri", json_object_new_string("test:///default"));
        json_object_object_add(e, "uuid", json_object_new_string("not-a-uuid"));
        r = vm_pause_undo(e);
        assert_true(r < 0 && r != -ESRCH && r != -ESTALE);   /* kept, not dropped as gone */
        json_object_object_add(e, "uuid", json_object_new_string("00000000-0000-0000-0000-00000000abcd"));
        assert_int_equal(vm_pause_undo(e), -ESRCH);          /* gone: dropped */
        json_object_put(e);
}

/* A row's HOST: the URI's host[:port], without a user; "localhost" without one. */
static void test_uri_host(void **state) {
        (void) state;
        static const struct { const char *uri, *host; } cases[] = {
                { "qemu+ssh://h1/system", "h1" },
                { "qemu+ssh://root@h2.example.org/system", "h2.example.org" },
                { "qemu+tcp://127.0.0.1:16509/system", "127.0.0.1:16509" },
                { "qemu+tcp://[::1]:16509/system?keepalive=1", "[::1]:16509" },
                { "qemu:///system", "localhost" },
                { "qemu+unix:///system?socket=/run/x.sock", "localhost" },
                { "test:///default", "localhost" },
                { "qemu+ssh://h3", "h3" },
                { "", "localhost" },
                { NULL, "localhost" },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char buf[64];
                hv_uri_host(cases[i].uri, buf, sizeof buf);
                assert_string_equal(buf, cases[i].host);
        }
        char small[4];
        hv_uri_host("qemu+ssh://longhostname/system", small, sizeof small);
        assert_string_equal(small, "lon");   /* cut, still a string */
}

static double elapsed_s(const struct timespec *t0) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        return (double) (t1.tv_sec - t0->tv_sec) + (double) (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Many hosts, one of which accepts and never answers (libvirt's open blocks
 * for good there): the discovery ends within the connect timeout, lists
 * the answering host's domain, and names the silent host in one line; asked
 * again while that open is still in flight, it says so at once. */
static int many_hosts_child(const char *hang_uri) {
        char *uris[] = { (char *) "test:///default", (char *) hang_uri, NULL };
        HvOptions o = HV_OPTIONS_DEFAULT;
        o.backend = "libvirt";
        o.libvirt_uris = uris;
        o.n_libvirt_uris = 2;
        o.connect_timeout_ms = 1000;
        o.ctx = hv_context_new();
        for (int round = 0; round < 2; round++) {
                struct timespec t0;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                DomainList l = {};
                char **failed = NULL;
                if (hv_discover_hosts(&o, &l, NULL, &failed) < 0)
                        return 10 + round;
                double t = elapsed_s(&t0);
                print_message("round %d: %zu domain(s), %s, %.2f s\n", round, l.n, failed ? failed[0] : "no failure", t);
                Domain *d = domain_list_find(&l, "test");
                char host[64] = "";
                if (d)
                        hv_domain_host(d, host, sizeof host);
                if (!d || !streq(host, "localhost") || !d->libvirt_uri || !streq(d->libvirt_uri, "test:///default"))
                        return 20 + round;
                if (!failed || !failed[0] || failed[1] || !strneq(failed[0], hang_uri, strlen(hang_uri)) ||
                    !strstr(failed[0], "no answer within 1.0 s"))
                        return 30 + round;
                /* bounds far above the timeout (a loaded machine), far below "for good" */
                if (t > (round == 0 ? 8.0 : 3.0))
                        return 40 + round;
                hv_strv_free(failed);
                domain_list_done(&l);
        }
        hv_context_free(o.ctx);
        return 0;
}

static void test_many_hosts_one_hangs(void **state) {
        (void) state;
        char dir[] = "/tmp/xvsched-test-mhhang-XXXXXX";
        assert_non_null(mkdtemp(dir));
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof a.sun_path, "%s/sock", dir);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(fd, 16), 0);   /* connects succeed, nothing answers */
        char uri[256];
        snprintf(uri, sizeof uri, "qemu+unix:///system?socket=%s", a.sun_path);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0)
                _exit(many_hosts_child(uri));
        int status = 0;
        pid_t w = 0;
        for (int i = 0; i < 300 && (w = waitpid(child, &status, WNOHANG)) == 0; i++)
                usleep(100 * 1000);   /* 30 s: far above the bound */
        if (w == 0) {
                kill(child, SIGKILL);
                waitpid(child, &status, 0);
        }
        close(fd);
        unlink(a.sun_path);
        rmdir(dir);
        assert_true(w == child);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* A guest view's libvirt agent connection (qga over a remote host's
 * libvirt) to a host that accepts and never answers: -ENOTCONN within the
 * connect timeout, the URI in the message (before: virConnectOpen blocked
 * for good, holding the daemon's view worker and so its stop). */
static int agent_open_child(const char *uri) {
        Domain *d = domain_new("g", "libvirt");
        if (!d || !(d->libvirt_uri = strdup(uri)))
                return 2;
        char err[256] = "";
        void *h = NULL;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int r = hv_libvirt_agent_open(d, NULL, &h, err, sizeof err);
        double t = elapsed_s(&t0);
        print_message("agent open over a silent URI: %d (%s) after %.1f s\n", r, err, t);
        domain_free(d);
        if (r != -ENOTCONN || h)
                return 3;
        if (!strstr(err, uri) || !strstr(err, "no answer within"))
                return 4;
        return t < 15.0 ? 0 : 5;   /* 5 s timeout; room for a loaded machine */
}

static void test_agent_open_hanging_uri(void **state) {
        (void) state;
        char dir[] = "/tmp/xvsched-test-aghang-XXXXXX";
        assert_non_null(mkdtemp(dir));
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof a.sun_path, "%s/sock", dir);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(fd, 16), 0);
        char uri[256];
        snprintf(uri, sizeof uri, "qemu+unix:///system?socket=%s", a.sun_path);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0)
                _exit(agent_open_child(uri));
        int status = 0;
        pid_t w = 0;
        for (int i = 0; i < 300 && (w = waitpid(child, &status, WNOHANG)) == 0; i++)
                usleep(100 * 1000);
        if (w == 0) {
                kill(child, SIGKILL);
                waitpid(child, &status, 0);
        }
        close(fd);
        unlink(a.sun_path);
        rmdir(dir);
        assert_true(w == child);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* Several opens of one silent URI (the daemon's qga view retries a remote
 * domain's agent every minute at most): only the first waits and leaves a
 * thread behind; the others are refused at once while it is in flight,
 * naming the URI (before: each left a thread and a socket behind for good,
 * so a host gone silent for a day used up the daemon's file descriptors). */
static int threads_now(void) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        int n = -1;
        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "Threads: %d", &n) == 1)
                        break;
        if (f)
                fclose(f);
        return n;
}

static int open_within_child(const char *uri) {
        int before = threads_now();
        char err[256] = "";
        for (int i = 0; i < 4; i++) {
                struct timespec t0;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                err[0] = 0;
                struct _virConnect *c = hv_libvirt_open_within(uri, 300, err, sizeof err);
                print_message("open %d of a silent URI: %s after %.1f s\n", i, c ? "connected" : err, elapsed_s(&t0));
                if (c || !strstr(err, uri) || strchr(err, '\n'))
                        return 3;
        }
        int after = threads_now();
        print_message("threads: %d before, %d after 4 opens\n", before, after);
        return before > 0 && after - before <= 1 ? 0 : 4;
}

static void test_open_within_one_thread_per_uri(void **state) {
        (void) state;
        char dir[] = "/tmp/xvsched-test-owhang-XXXXXX";
        assert_non_null(mkdtemp(dir));
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof a.sun_path, "%s/sock", dir);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(fd, 16), 0);
        char uri[256];
        snprintf(uri, sizeof uri, "qemu+unix:///system?socket=%s", a.sun_path);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0)
                _exit(open_within_child(uri));
        int status = 0;
        pid_t w = 0;
        for (int i = 0; i < 300 && (w = waitpid(child, &status, WNOHANG)) == 0; i++)
                usleep(100 * 1000);
        if (w == 0) {
                kill(child, SIGKILL);
                waitpid(child, &status, 0);
        }
        close(fd);
        unlink(a.sun_path);
        rmdir(dir);
        assert_true(w == child);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* A remote domain's weight in its host's scale (before: this machine's
 * cgroup version decided, so a v1 host driven from a v2 machine got
 * weight=300 as cpu_shares=300, a third of what was meant, and read back
 * 1024 as weight 1024 instead of 100). */
static void test_remote_cgroup_version(void **state) {
        (void) state;
        /* libvirt 9's refusal of cpu_shares=0 names the host's range */
        assert_int_equal(hv_cgroup_version_from_refusal("invalid argument: shares '0' must be in range [2, 262144]"),
                         HV_CGROUP_V1);
        assert_int_equal(hv_cgroup_version_from_refusal("invalid argument: shares '0' must be in range [1, 10000]"),
                         HV_CGROUP_V2);
        /* translated words, the same figures */
        assert_int_equal(hv_cgroup_version_from_refusal("argument non valide : « shares » doit être dans [1, 10000]"),
                         HV_CGROUP_V2);
        /* anything else: unknown (then the value, then this machine's) */
        assert_int_equal(hv_cgroup_version_from_refusal(NULL), HV_CGROUP_UNKNOWN);
        assert_int_equal(hv_cgroup_version_from_refusal(""), HV_CGROUP_UNKNOWN);
        assert_int_equal(hv_cgroup_version_from_refusal("Unable to write to '/sys/fs/cgroup/x/cpu.weight': Numerical result out of range"),
                         HV_CGROUP_UNKNOWN);
        assert_int_equal(hv_cgroup_version_from_refusal("cfs_period '0' must be in range (1000, 1000000)"),
                         HV_CGROUP_UNKNOWN);
        assert_int_equal(hv_cgroup_version_from_refusal("shares must be in range [1, 10000"), HV_CGROUP_UNKNOWN);
        assert_int_equal(hv_cgroup_version_from_refusal("shares must be in range [3, 262144]"), HV_CGROUP_UNKNOWN);
        assert_int_equal(hv_cgroup_version_from_refusal("[99999999999999999999999, 1]"), HV_CGROUP_UNKNOWN);
        /* a value only v1 holds */
        assert_int_equal(hv_cgroup_version_from_shares(262144), HV_CGROUP_V1);
        assert_int_equal(hv_cgroup_version_from_shares(10001), HV_CGROUP_V1);
        assert_int_equal(hv_cgroup_version_from_shares(10000), HV_CGROUP_UNKNOWN);
        assert_int_equal(hv_cgroup_version_from_shares(1024), HV_CGROUP_UNKNOWN);
        assert_int_equal(hv_cgroup_version_from_shares(100), HV_CGROUP_UNKNOWN);
}

static void test_remote_weight_scale(void **state) {
        (void) state;
        /* v1: shares (1024 for weight 100), clamped to [2, 262144] */
        assert_int_equal(hv_weight_to_cpu_shares(100, HV_CGROUP_V1), 1024);
        assert_int_equal(hv_weight_to_cpu_shares(300, HV_CGROUP_V1), 3072);
        assert_int_equal(hv_weight_to_cpu_shares(1, HV_CGROUP_V1), 10);
        assert_int_equal(hv_weight_to_cpu_shares(10000, HV_CGROUP_V1), 102400);
        assert_int_equal(hv_cpu_shares_to_weight(1024, HV_CGROUP_V1), 100);
        assert_int_equal(hv_cpu_shares_to_weight(3072, HV_CGROUP_V1), 300);
        assert_int_equal(hv_cpu_shares_to_weight(262144, HV_CGROUP_V1), 10000);
        assert_int_equal(hv_cpu_shares_to_weight(2, HV_CGROUP_V1), 1);
        /* v2: the weight itself, in [1, 10000] */
        assert_int_equal(hv_weight_to_cpu_shares(300, HV_CGROUP_V2), 300);
        assert_int_equal(hv_weight_to_cpu_shares(0, HV_CGROUP_V2), 1);
        assert_int_equal(hv_weight_to_cpu_shares(20000, HV_CGROUP_V2), 10000);
        assert_int_equal(hv_cpu_shares_to_weight(300, HV_CGROUP_V2), 300);
        assert_int_equal(hv_cpu_shares_to_weight(0, HV_CGROUP_V2), 1);
        assert_int_equal(hv_cpu_shares_to_weight(262144, HV_CGROUP_V2), 10000);
        /* round trip on each */
        for (unsigned w = 1; w <= 10000; w += 37) {
                assert_int_equal(hv_cpu_shares_to_weight(hv_weight_to_cpu_shares(w, HV_CGROUP_V2), HV_CGROUP_V2), w);
                unsigned back = hv_cpu_shares_to_weight(hv_weight_to_cpu_shares(w, HV_CGROUP_V1), HV_CGROUP_V1);
                assert_true(back + 1 >= w && back <= w + 1);
        }
        /* blkio: v1 weight*5 in [10, 1000]; v2 io.weight itself */
        assert_int_equal(hv_ioweight_to_blkio(100, HV_CGROUP_V1), 500);
        assert_int_equal(hv_ioweight_to_blkio(1, HV_CGROUP_V1), 10);
        assert_int_equal(hv_ioweight_to_blkio(10000, HV_CGROUP_V1), 1000);
        assert_int_equal(hv_ioweight_to_blkio(100, HV_CGROUP_V2), 100);
        assert_int_equal(hv_ioweight_to_blkio(10000, HV_CGROUP_V2), 10000);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_remote_cgroup_version),
                cmocka_unit_test(test_remote_weight_scale),
                cmocka_unit_test(test_both_channels),
                cmocka_unit_test(test_no_channels),
                cmocka_unit_test(test_not_unix),
                cmocka_unit_test(test_exact_name_and_reparse),
                cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_connect_mode_and_relative_path),
                cmocka_unit_test(test_pause_undo_hanging_uri),
                cmocka_unit_test(test_lookup_errors_are_not_gone),
                cmocka_unit_test(test_uri_host),
                cmocka_unit_test(test_many_hosts_one_hangs),
                cmocka_unit_test(test_agent_open_hanging_uri),
                cmocka_unit_test(test_open_within_one_thread_per_uri),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
