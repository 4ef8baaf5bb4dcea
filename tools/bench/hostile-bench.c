/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hostile-bench: what a hostile guest can make the host's (root's) process
 * spend.  Each case runs in a child of its own and prints that child's peak
 * RSS growth (VmHWM after the case minus VmRSS before it, with the peak
 * reset through /proc/self/clear_refs), its CPU seconds (getrusage) and the
 * outcome.
 *
 * Agent cases: a fake agent (a separate process, so its memory does not
 * count) on a UNIX socket answers sync and hello, then sends one hostile
 * reply to `tasks`; the client is the host's (src/view/agent-client.c),
 * connected with agent_client_connect() and its default limits.
 * VMI cases: a hostile guest memory image around the fake kernel of the unit
 * tests (fake-kernel.c), read by src/vmi/ as guest RAM.
 *
 * Usage: hostile-bench [CASE...]   (no argument: every case; "list" names them)
 * Built against an older tree with -DHOSTILE_BASE (docs/vmi.md, "Hostile
 * guests"), the cases use only what that tree had. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "fake-kernel.h"
#include "view/agent-client.h"
#include "vmi/mem.h"
#include "vmi/vmi.h"

#define MIB (1024.0 * 1024.0)

static char outcome[256];

static long status_kb(const char *key) {
        FILE *f = fopen("/proc/self/status", "re");
        if (!f)
                return -1;
        char line[256];
        long v = -1;
        size_t kl = strlen(key);
        while (fgets(line, sizeof line, f))
                if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
                        v = strtol(line + kl + 1, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

static void reset_peak(void) {
        int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (write(fd, "5", 1) != 1)
                        perror("clear_refs");
                close(fd);
        }
}

static double cpu_s(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
               (double) ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Measurement around the part of a case that the host does. */
static long m_rss0;
static double m_cpu0, m_wall0;
static double r_growth, r_cpu, r_wall;

static void measure_begin(void) {
        reset_peak();
        m_rss0 = status_kb("VmRSS");
        m_cpu0 = cpu_s();
        m_wall0 = now_s();
}

static void measure_end(void) {
        r_cpu = cpu_s() - m_cpu0;
        r_wall = now_s() - m_wall0;
        r_growth = (double) (status_kb("VmHWM") - m_rss0) / 1024.0;
}

/* ---- the hostile agent ---------------------------------------------------- */

typedef enum Reply {
        R_OBJECTS,       /* "tasks":[{},{},...] */
        R_INTS,          /* "tasks":[0,0,...] */
        R_DEEP,          /* [[[[... */
        R_FOREIGN,       /* lines with other ids, each a long string, then nothing */
        R_LONG,          /* one line without a newline */
        R_LEGIT,         /* a legitimate reply at the task limit */
} Reply;

typedef struct AgentCase {
        Reply kind;
        size_t bytes;    /* payload size */
        size_t lines;    /* R_FOREIGN */
} AgentCase;

static void put(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
                if (k <= 0)
                        _exit(0);
                s += k;
                n -= (size_t) k;
        }
}

static void puts_fd(int fd, const char *s) {
        put(fd, s, strlen(s));
}

/* Send `unit` repeated until about `bytes`, in 64 KiB pieces. */
static void repeat(int fd, const char *unit, size_t bytes) {
        static char buf[65536];
        size_t ul = strlen(unit), per = sizeof buf / ul;
        for (size_t i = 0; i < per; i++)
                memcpy(buf + i * ul, unit, ul);
        for (size_t sent = 0; sent < bytes;) {
                size_t n = bytes - sent < per * ul ? (bytes - sent) / ul * ul : per * ul;
                if (n == 0)
                        break;
                put(fd, buf, n);
                sent += n;
        }
}

static void hostile_reply(int fd, const AgentCase *ac, long long id) {
        char head[256];
        switch (ac->kind) {
        case R_OBJECTS:
        case R_INTS:
                snprintf(head, sizeof head,
                         "{\"id\":%lld,\"return\":{\"token\":\"t\",\"full\":true,\"n_threads\":1,"
                         "\"agent\":{\"pid\":9,\"cpu_ns\":1},\"tasks\":[", id);
                puts_fd(fd, head);
                repeat(fd, ac->kind == R_OBJECTS ? "{}," : "0,", ac->bytes);
                puts_fd(fd, ac->kind == R_OBJECTS ? "{}]}}\n" : "0]}}\n");
                return;
        case R_DEEP:
                snprintf(head, sizeof head, "{\"id\":%lld,\"return\":", id);
                puts_fd(fd, head);
                repeat(fd, "[", ac->bytes);
                puts_fd(fd, "\n");
                return;
        case R_FOREIGN:
                for (size_t l = 0; l < ac->lines; l++) {
                        snprintf(head, sizeof head, "{\"id\":%lld,\"return\":\"", id + 1000 + (long long) l);
                        puts_fd(fd, head);
                        repeat(fd, "x", ac->bytes);
                        puts_fd(fd, "\"}\n");
                }
                return;
        case R_LONG:
                repeat(fd, "x", ac->bytes);
                return;
        case R_LEGIT: {
                size_t n = ac->bytes;   /* tasks */
                snprintf(head, sizeof head,
                         "{\"id\":%lld,\"return\":{\"token\":\"t\",\"full\":true,\"hz\":100,\"n_threads\":%zu,"
                         "\"agent\":{\"pid\":%d,\"cpu_ns\":1},\"tasks\":[", id, n, (int) (n + 10));
                puts_fd(fd, head);
                char args[256];
                memset(args, 'a', sizeof args - 1);
                args[sizeof args - 1] = 0;
                for (size_t i = 0; i < n; i++) {
                        char t[1024];
                        int k = snprintf(t, sizeof t,
                                         "%s{\"pid\":%zu,\"tid\":%zu,\"comm\":\"process-%07zu\",\"cmdline\":\"%.240s\","
                                         "\"state\":\"S\",\"cpu\":1,\"cpu_ns\":123456789012,\"nice\":0,\"policy\":\"other\","
                                         "\"rt_priority\":0,\"start_ns\":123456789012}",
                                         i ? "," : "", i + 2, i + 2, i, args);
                        put(fd, t, (size_t) k);
                }
                puts_fd(fd, "]}}\n");
                return;
        }
        }
}

/* Serve one connection: sync, hello, then the hostile tasks reply. */
static void fake_agent(int lfd, const AgentCase *ac) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
                _exit(1);
        static char buf[65536];
        size_t len = 0;
        for (;;) {
                ssize_t k = read(fd, buf + len, sizeof buf - 1 - len);
                if (k <= 0)
                        _exit(0);
                len += (size_t) k;
                char *nl;
                while ((nl = memchr(buf, '\n', len))) {
                        *nl = 0;
                        const char *ex = strstr(buf, "\"execute\":\"");
                        const char *idp = strstr(buf, "},\"id\":");
                        if (!idp)
                                idp = strstr(buf, ",\"id\":");
                        long long id = idp ? strtoll(strstr(idp, "\"id\":") + 5, NULL, 10) : 0;
                        char out[512];
                        if (ex && strncmp(ex + 11, "sync", 4) == 0) {
                                snprintf(out, sizeof out, "\xff{\"return\":%lld,\"id\":%lld}\n", id, id);
                                puts_fd(fd, out);
                        } else if (ex && strncmp(ex + 11, "hello", 5) == 0) {
                                snprintf(out, sizeof out,
                                         "{\"return\":{\"protocol\":1,\"version\":\"0.1\",\"pid\":9},\"id\":%lld}\n", id);
                                puts_fd(fd, out);
                        } else if (ex && strncmp(ex + 11, "tasks", 5) == 0)
                                hostile_reply(fd, ac, id);
                        len -= (size_t) (nl + 1 - buf);
                        memmove(buf, nl + 1, len);
                }
        }
}

static int run_agent_case(const AgentCase *ac) {
        char dir[] = "/tmp/hostile-bench-XXXXXX";
        if (!mkdtemp(dir))
                return -errno;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s/agent.sock", dir);
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(lfd, 1) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid == 0) {
                fake_agent(lfd, ac);
                _exit(0);
        }
        close(lfd);

        measure_begin();
        AgentClient *c = NULL;
        int r = agent_client_connect(sa.sun_path, 20 * USEC_PER_SEC, &c);
        if (r >= 0) {
                GuestTask *t = NULL;
                size_t n = 0;
                r = agent_client_tasks(c, &t, &n);
                if (r >= 0)
                        snprintf(outcome, sizeof outcome, "ok: %zu tasks", n);
                else
                        snprintf(outcome, sizeof outcome, "%s: %s", strerrorname_np(-r), agent_client_last_error(c));
                free(t);
                agent_client_free(c);
        } else
                snprintf(outcome, sizeof outcome, "connect %s: %s", strerrorname_np(-r), agent_client_last_error(NULL));
        measure_end();

        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        unlink(sa.sun_path);
        rmdir(dir);
        return 0;
}

/* ---- hostile guest memory -------------------------------------------------- */

static const FakeSpec spec_small = { .processes = 20, .threads = 3, .kthreads = 10, .ncpus = 2 };

/* The fake kernel copied to the start of `size` bytes at `dst` (zeros after). */
static int place_kernel(FakeKernel *fk, const FakeSpec *spec, uint8_t *dst) {
        int r = fake_kernel_build(fk, spec);
        if (r < 0)
                return r;
        memcpy(dst, fk->image, fk->size);
        return 0;
}

static void rename_init(uint8_t *img) {
        memcpy(img + FK_PA_INIT_TASK + FK_T_COMM, "swapper/X", 10);
}

/* RAM past the kernel full of "swapper/0" tasks with pid 0 whose
 * tasks.next points into the direct map (each costs a pid-1 search). */
static void fill_candidates(const FakeKernel *fk, uint8_t *img, size_t size, size_t stride) {
        for (uint64_t pa = FK_IMAGE_SIZE; pa + FK_TASK_SIZE <= size; pa += stride) {
                memset(img + pa, 0, FK_TASK_SIZE);
                memcpy(img + pa + FK_T_COMM, "swapper/0", 10);
                uint64_t next = fk->page_offset_base + pa + 4096 + FK_T_TASKS;
                memcpy(img + pa + FK_T_TASKS, &next, 8);
        }
}

static int case_vmi_candidates(size_t size) {
        uint8_t *img = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (img == MAP_FAILED)
                return -errno;
        FakeKernel fk = {};
        int r = place_kernel(&fk, &spec_small, img);
        if (r < 0)
                return r;
        rename_init(img);
        fill_candidates(&fk, img, size, 256);
        /* and a little RAM at 63 GiB: a 64 GiB guest, for which each
         * candidate costs a pid-1 check per GiB */
        static uint8_t high[1u << 20];
        VmiRegion rg[2] = {
                { .gpa = 0, .size = size, .local = img },
                { .gpa = (UINT64_C(64) << 30) - sizeof high, .size = sizeof high, .local = high },
        };
        VmiMem *m = NULL;
        r = vmi_mem_open_regions(rg, 2, false, &m);
        if (r < 0)
                return r;
        measure_begin();
        Vmi *v = NULL;
        VmiOptions o = { .max_cpus = 2 };
        r = vmi_attach(m, &o, &v);
        measure_end();
        snprintf(outcome, sizeof outcome, "attach %s: %s", r < 0 ? strerrorname_np(-r) : "ok",
                 r < 0 ? vmi_last_error(NULL) : "");
        vmi_free(v);
        vmi_mem_free(m);
        fake_kernel_done(&fk);
        munmap(img, size);
        return 0;
}

/* RAM past the kernel full of BTF headers that pass the cheap checks (a
 * first type of a known kind, strings from "" to a NUL): every `stride`
 * bytes, declaring blobs of `blob` bytes; with task_struct among the strings
 * when `named` (then libbpf is asked, and fails: the int is cut short). */
static void fill_btf_headers(uint8_t *img, size_t size, size_t stride, uint32_t blob, bool named) {
        static const uint8_t magic[8] = { 0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00 };
        for (size_t at = FK_IMAGE_SIZE; at + (stride > blob ? stride : blob) <= size; at += stride) {
                uint32_t w[4] = { 0, 12, 12, blob - 24 - 12 };
                uint32_t first[3] = { 0, 1u << 24, 4 };
                memcpy(img + at, magic, 8);
                memcpy(img + at + 8, w, sizeof w);
                memcpy(img + at + 24, first, sizeof first);
                if (named)
                        memcpy(img + at + 24 + 12 + 1, "task_struct", 12);
        }
}

/* A stock guest's RAM below the kernel's blob: `n` modules' split BTF
 * (on the kernel's own BTF), 2 KiB apart. */
static int fill_modules(const FakeKernel *fk, uint8_t *img, int n) {
        struct btf *base = btf__new(fk->image + FK_PA_BTF, (uint32_t) fk->btf_size);
        if (!base)
                return -EBADMSG;
        int r = 0;
        for (int k = 0; k < n && r == 0; k++) {
                size_t at = (size_t) k * 2048;
                struct btf *b = btf__new_empty_split(base);
                char name[32];
                snprintf(name, sizeof name, "mod%d_priv", k);
                uint32_t sz = 0;
                const void *raw = NULL;
                if (!b || btf__add_struct(b, name, 4) < 0 || btf__add_field(b, "x", 1, 0, 0) < 0 ||
                    !(raw = btf__raw_data(b, &sz)) || sz > 2048 || at + 2048 > FK_PA_BTF - 0x10000)
                        r = -E2BIG;
                else
                        memcpy(img + at, raw, sz);
                btf__free(b);
        }
        btf__free(base);
        return r;
}

static int case_vmi_btf(size_t size, size_t stride, uint32_t blob, bool named, int modules) {
        uint8_t *img = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (img == MAP_FAILED)
                return -errno;
        FakeKernel fk = {};
        int r = place_kernel(&fk, &spec_small, img);
        if (r < 0)
                return r;
        if (stride > 0)
                fill_btf_headers(img, size, stride, blob, named);
        if (modules > 0 && (r = fill_modules(&fk, img, modules)) < 0)
                return r;
        VmiMem *m = NULL;
        r = vmi_mem_open_buffer(img, size, false, &m);
        if (r < 0)
                return r;
        measure_begin();
        Vmi *v = NULL;
        VmiOptions o = { .max_cpus = 2 };
        r = vmi_attach(m, &o, &v);
        measure_end();
#ifdef HOSTILE_BASE
        snprintf(outcome, sizeof outcome, "attach %s: %s", r < 0 ? strerrorname_np(-r) : "ok",
                 r < 0 ? vmi_last_error(NULL) : "");
#else
        if (r < 0)
                snprintf(outcome, sizeof outcome, "attach %s: %s", strerrorname_np(-r), vmi_last_error(NULL));
        else
                snprintf(outcome, sizeof outcome, "attach ok: %" PRIu64 " BTF headers, %" PRIu64 " looked at, %" PRIu64
                         " bytes read, %" PRIu64 " parsed", v->stats.btf.headers, v->stats.btf.looked,
                         v->stats.btf.read_bytes, v->stats.btf.parsed);
#endif
        vmi_free(v);
        vmi_mem_free(m);
        fake_kernel_done(&fk);
        munmap(img, size);
        return 0;
}

/* A sparse RAM file (a memfd, as memory-backend-memfd,share=on) with the
 * kernel at its start, init_task renamed: the search reads all of RAM. */
static int case_vmi_shared(uint64_t size, bool full) {
        int fd = memfd_create("guest-ram", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t) size) < 0)
                return -errno;
        if (full) {
                /* RAM the guest uses (nothing to skip) */
                static uint8_t junk[1u << 20];
                memset(junk, 0x5a, sizeof junk);
                for (uint64_t off = FK_IMAGE_SIZE; off < size; off += sizeof junk)
                        if (pwrite(fd, junk, sizeof junk, (off_t) off) != (ssize_t) sizeof junk)
                                return -EIO;
        }
        uint8_t *img = mmap(NULL, FK_IMAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (img == MAP_FAILED)
                return -errno;
        FakeKernel fk = {};
        int r = place_kernel(&fk, &spec_small, img);
        if (r < 0)
                return r;
        rename_init(img);
        munmap(img, FK_IMAGE_SIZE);
        fake_kernel_done(&fk);
        VmiMem *m = NULL;
#ifdef HOSTILE_BASE
        /* what vmi_mem_open_process did with shared RAM: map it */
        uint8_t *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
                return -errno;
        VmiRegion rg = { .gpa = 0, .size = size, .local = map };
        r = vmi_mem_open_regions(&rg, 1, false, &m);
#else
        r = vmi_mem_open_fd(fd, size, false, &m);
#endif
        if (r < 0)
                return r;
        measure_begin();
        Vmi *v = NULL;
        VmiOptions o = { .max_cpus = 2 };
        r = vmi_attach(m, &o, &v);
        measure_end();
        struct stat st;
        fstat(fd, &st);
        snprintf(outcome, sizeof outcome, "attach %s; RAM file allocated %.0f MiB of %.0f", r < 0 ? strerrorname_np(-r) : "ok",
                 (double) st.st_blocks * 512 / MIB, (double) size / MIB);
        vmi_free(v);
        vmi_mem_free(m);
#ifdef HOSTILE_BASE
        munmap(map, size);
#endif
        close(fd);
        return 0;
}

/* The task window ("span") comes from the guest's BTF; the layout check
 * allows up to 64 KiB.  Scan, widen the span to that, scan again: the
 * prefetch copies the previous scan's windows. */
static int case_vmi_prefetch(void) {
        FakeKernel fk = {};
        FakeSpec spec = { .processes = 900, .threads = 3, .kthreads = 50, .ncpus = 2 };
        int r = fake_kernel_build(&fk, &spec);
        if (r < 0)
                return r;
        VmiMem *m = NULL;
        Vmi *v = NULL;
        VmiOptions o = { .max_cpus = 2, .copy_windows = true };
        if ((r = vmi_mem_open_buffer(fk.image, fk.size, false, &m)) < 0 || (r = vmi_attach(m, &o, &v)) < 0)
                return r;
        VmiTask *t = NULL;
        size_t n = 0;
        if ((r = vmi_scan(v, &t, &n)) < 0)
                return r;
        free(t);
        v->L.span_hi = v->L.span_lo + 65536;
        measure_begin();
        r = vmi_scan(v, &t, &n);
        measure_end();
#ifdef HOSTILE_BASE
        uint64_t pf = v->pf_cap;
#else
        uint64_t pf = v->stats.prefetch_bytes;
#endif
        snprintf(outcome, sizeof outcome, "scan %s: %zu tasks, prefetched %.1f MiB", r < 0 ? strerrorname_np(-r) : "ok", n,
                 (double) pf / MIB);
        free(t);
        vmi_free(v);
        vmi_mem_free(m);
        fake_kernel_done(&fk);
        return 0;
}

/* Polls of an attached view while the guest has rewritten init_task's
 * comm (and, with `moved`, also broke the link from pid 1 back to it).
 * The before-tree is driven as its view did it: comm != "swapper/0" ->
 * attach again. */
static int case_vmi_reattach(size_t size, bool moved, int polls) {
        uint8_t *img = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (img == MAP_FAILED)
                return -errno;
        FakeKernel fk = {};
        int r = place_kernel(&fk, &spec_small, img);
        if (r < 0)
                return r;
        memset(img + FK_IMAGE_SIZE, 0x5a, size - FK_IMAGE_SIZE);   /* RAM in use, not zero pages */
        VmiMem *m = NULL;
        Vmi *v = NULL;
        VmiOptions o = { .max_cpus = 2 };
        if ((r = vmi_mem_open_buffer(img, size, false, &m)) < 0 || (r = vmi_attach(m, &o, &v)) < 0)
                return r;
        rename_init(img);
        if (moved) {
                uint64_t zero = 0;
                memcpy(img + fk.tasks[0].pa + FK_T_TASKS + 8, &zero, 8);
        }
        int attempts = 0, errors = 0;
        measure_begin();
        for (int i = 0; i < polls; i++) {
#ifdef HOSTILE_BASE
                char comm[16];
                vmi_mem_read(m, v->init_task_pa + (uint64_t) v->L.t_comm, comm, sizeof comm);
                if (memcmp(comm, "swapper/0", 10) != 0) {
                        Vmi *nv = NULL;
                        attempts++;
                        r = vmi_attach(m, &o, &nv);
                        if (r < 0)
                                errors++;
                        else {
                                vmi_free(v);
                                v = nv;
                        }
                }
#else
                static VmiReattach rl;
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                uint64_t before = rl.attempts;
                r = vmi_revalidate(&v, m, &o, &rl, (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000);
                attempts += (int) (rl.attempts - before);
                errors += r < 0;
#endif
        }
        measure_end();
        snprintf(outcome, sizeof outcome, "%d polls: %d attaches, %d failed polls", polls, attempts, errors);
        vmi_free(v);
        vmi_mem_free(m);
        fake_kernel_done(&fk);
        munmap(img, size);
        return 0;
}

/* ---- driver ---------------------------------------------------------------- */

typedef struct Case {
        const char *name;
        const char *what;
        int kind;        /* 0 agent, 1.. vmi */
        AgentCase ac;
} Case;

static const Case cases[] = {
        { "agent-objects-2m", "reply with 2 MiB of {},{},... as tasks", 0, { R_OBJECTS, 2u << 20, 0 } },
        { "agent-ints-8m", "reply with 8 MiB of 0,0,... as tasks", 0, { R_INTS, 8u << 20, 0 } },
        { "agent-deep-1m", "reply nested 1 MiB deep: [[[[...", 0, { R_DEEP, 1u << 20, 0 } },
        { "agent-foreign-31x8m", "31 lines of 8 MiB with other ids", 0, { R_FOREIGN, 8u << 20, 31 } },
        { "agent-long-40m", "a 40 MiB line without newline", 0, { R_LONG, 40u << 20, 0 } },
        { "agent-legit-65536", "a legitimate reply: 65,536 tasks, 240-byte cmdlines", 0, { R_LEGIT, 65536, 0 } },
        { "vmi-candidates-64g", "64 GiB guest: 512 MiB of it with a swapper/0 pid-0 task every 256 bytes", 1, {} },
        { "vmi-shared-ram-2g", "attach through a 2 GiB sparse shared RAM file, init_task renamed", 2, {} },
        { "vmi-shared-full-1g", "attach through a 1 GiB shared RAM file in use, init_task renamed", 6, {} },
        { "vmi-prefetch-64k", "3,000 tasks, task window widened to 64 KiB", 3, {} },
        { "vmi-renamed-init-100", "100 polls, init_task comm rewritten, 256 MiB RAM", 4, {} },
        { "vmi-moved-init-100", "100 polls, init_task renamed and unlinked from pid 1, 256 MiB RAM", 5, {} },
        { "vmi-btf-modules-400", "256 MiB: 400 modules' split BTF below the kernel's", 10, {} },
        { "vmi-btf-headers-1g", "1 GiB: a small plausible BTF header every 64 bytes (16 M)", 7, {} },
        { "vmi-btf-large-1g", "1 GiB: a 1 MiB plausible BTF without task_struct every 64 KiB", 8, {} },
        { "vmi-btf-named-1g", "1 GiB: a 1 MiB BTF naming task_struct (libbpf fails) every 64 KiB", 9, {} },
};

static int run_case(const Case *c) {
        switch (c->kind) {
        case 0:
                return run_agent_case(&c->ac);
        case 1:
                return case_vmi_candidates(512u << 20);
        case 2:
                return case_vmi_shared(UINT64_C(2) << 30, false);
        case 6:
                return case_vmi_shared(UINT64_C(1) << 30, true);
        case 3:
                return case_vmi_prefetch();
        case 4:
                return case_vmi_reattach(256u << 20, false, 100);
        case 5:
                return case_vmi_reattach(256u << 20, true, 100);
        case 7:
                return case_vmi_btf(UINT64_C(1) << 30, 64, 64, false, 0);
        case 8:
                return case_vmi_btf(UINT64_C(1) << 30, 64u << 10, 1u << 20, false, 0);
        case 9:
                return case_vmi_btf(UINT64_C(1) << 30, 64u << 10, 1u << 20, true, 0);
        case 10:
                return case_vmi_btf(256u << 20, 0, 0, false, 400);
        }
        return -EINVAL;
}

typedef struct Result {
        double growth, cpu, wall;
        int r;
        char outcome[256];
} Result;

int main(int argc, char **argv) {
        if (argc > 1 && strcmp(argv[1], "list") == 0) {
                for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                        printf("%-22s %s\n", cases[i].name, cases[i].what);
                return 0;
        }
        printf("%-22s %10s %8s %8s  %s\n", "case", "peak+ MiB", "CPU s", "wall s", "outcome");
        int ret = 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                const Case *c = &cases[i];
                bool want = argc <= 1;
                for (int a = 1; a < argc; a++)
                        if (strcmp(argv[a], c->name) == 0)
                                want = true;
                if (!want)
                        continue;
                Result *res = mmap(NULL, sizeof *res, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                if (res == MAP_FAILED)
                        return 1;
                *res = (Result) { .r = -EINTR };
                fflush(stdout);
                pid_t pid = fork();
                if (pid == 0) {
                        int r = run_case(c);
                        *res = (Result) { .growth = r_growth, .cpu = r_cpu, .wall = r_wall, .r = r };
                        snprintf(res->outcome, sizeof res->outcome, "%s", outcome);
                        _exit(0);
                }
                int st = 0;
                waitpid(pid, &st, 0);
                if (res->r < 0 || !WIFEXITED(st)) {
                        printf("%-22s %10s %8s %8s  setup failed: %s (status %d)\n", c->name, "-", "-", "-",
                               strerrorname_np(-res->r) ?: "?", st);
                        ret = 1;
                } else
                        printf("%-22s %10.1f %8.2f %8.2f  %s\n", c->name, res->growth, res->cpu, res->wall, res->outcome);
                munmap(res, sizeof *res);
        }
        return ret;
}
