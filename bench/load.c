/* SPDX-License-Identifier: GPL-2.0-or-later */
/* load: load generators (paper 003's `stress` in the VM, paper 004's
 * kernel and I/O load).  N worker processes run one generator until the
 * deadline; each call of a generator's op() is one "operation" (what it is
 * is documented per generator).  The report gives operations per wall-second
 * and per CPU-second of the workers, and the CPU they consumed.
 *
 * Generators are descriptors {name, help, setup, op, cleanup, supported}
 * listed once in LOAD_GENERATORS. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/macros.h"
#include "lib/clock.h"
#include "xvbench.h"

/* name, what one operation is */
#define LOAD_GENERATORS(X)                                                                           \
        X(cpu, "integer and floating-point arithmetic; op = 4096 rounds")                            \
        X(vm, "map --bytes of anonymous memory, write every page, unmap; op = one cycle")            \
        X(io, "write 4K to a file, fsync() it, sync(); op = one round")                              \
        X(hdd, "random 4K pread/pwrite on a --bytes file, fdatasync every 64 writes; op = one I/O") \
        X(kernel, "SysV shared memory + semaphores, sched_yield, 1us timer sleeps; op = one round")  \
        X(files, "create, write 512 bytes, close, unlink a file; op = one file")                     \
        X(udp, "64-byte UDP datagram to self over loopback (or to --host); op = one datagram")

typedef struct LoadParam {
        unsigned workers;
        uint64_t duration_ns, bytes;
        const char *dir, *host;
        int port;
} LoadParam;

typedef struct LoadShared {     /* one per worker, in shared memory */
        uint64_t ops;
        int error;
        char where[48];
} LoadShared;

typedef struct LoadWorker {
        const LoadParam *p;
        unsigned index;
        uint64_t seed;
        int fd, semid;
        void *mem;
        uint64_t n;
        char path[4096];
        struct sockaddr_in to;
} LoadWorker;

typedef struct LoadGen {
        const char *name, *help;
        int (*supported)(const LoadParam *p);   /* 0 or -errno: why not here */
        int (*setup)(LoadWorker *w);
        int (*op)(LoadWorker *w);
        void (*cleanup)(LoadWorker *w);
} LoadGen;

static volatile uint64_t sink;

static uint64_t rnd(LoadWorker *w) {
        uint64_t x = w->seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return w->seed = x;
}

static int ok_supported(const LoadParam *p) {
        (void) p;
        return 0;
}
static int ok_setup(LoadWorker *w) {
        (void) w;
        return 0;
}
static void close_cleanup(LoadWorker *w) {
        if (w->fd >= 0)
                close(w->fd);
        if (w->path[0])
                unlink(w->path);
}
static int dir_supported(const LoadParam *p) {
        return RET_NERRNO(access(p->dir, W_OK | X_OK));
}

/* cpu */
#define load_cpu_supported ok_supported
#define load_cpu_setup ok_setup
static int load_cpu_op(LoadWorker *w) {
        uint64_t x = w->seed | 1;
        double f = 1.0 + (double) (x & 0xff);
        for (int i = 0; i < 4096; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                x ^= x >> 29;
                f = f * 1.0000001 + 0.5 / f;
        }
        w->seed = x;
        sink = x + (uint64_t) f;
        return 0;
}
static void load_cpu_cleanup(LoadWorker *w) {
        (void) w;
}

/* vm */
#define load_vm_supported ok_supported
#define load_vm_setup ok_setup
static int load_vm_op(LoadWorker *w) {
        size_t n = (size_t) w->p->bytes;
        unsigned char *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
                return -errno;
        for (size_t off = 0; off < n; off += 4096)
                m[off] = (unsigned char) off;
        sink = m[n / 2];
        munmap(m, n);
        return 0;
}
static void load_vm_cleanup(LoadWorker *w) {
        (void) w;
}

static int open_worker_file(LoadWorker *w, const char *what, int flags) {
        snprintf(w->path, sizeof w->path, "%s/xvbench-load-%s.%d.%u", w->p->dir, what, (int) getpid(), w->index);
        w->fd = open(w->path, flags | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (w->fd < 0) {
                int e = errno;
                w->path[0] = 0;
                return -e;
        }
        return 0;
}

/* io */
#define load_io_supported dir_supported
static int load_io_setup(LoadWorker *w) {
        return open_worker_file(w, "io", O_WRONLY);
}
static int load_io_op(LoadWorker *w) {
        static const char blk[4096];
        if (pwrite(w->fd, blk, sizeof blk, (off_t) ((w->n++ % 256) * sizeof blk)) < 0)
                return -errno;
        if (fsync(w->fd) < 0)
                return -errno;
        sync();
        return 0;
}
#define load_io_cleanup close_cleanup

/* hdd */
#define load_hdd_supported dir_supported
static int load_hdd_setup(LoadWorker *w) {
        int r = open_worker_file(w, "hdd", O_RDWR);
        if (r < 0)
                return r;
        char blk[4096];
        memset(blk, 0x3c, sizeof blk);
        for (uint64_t off = 0; off < w->p->bytes; off += sizeof blk)
                if (pwrite(w->fd, blk, sizeof blk, (off_t) off) < 0)
                        return -errno;
        return RET_NERRNO(fdatasync(w->fd));
}
static int load_hdd_op(LoadWorker *w) {
        char blk[4096];
        uint64_t nblk = w->p->bytes / sizeof blk;
        off_t off = (off_t) ((rnd(w) % (nblk ? nblk : 1)) * sizeof blk);
        if (w->n++ & 1) {
                if (pread(w->fd, blk, sizeof blk, off) < 0)
                        return -errno;
                sink = (unsigned char) blk[0];
                return 0;
        }
        memset(blk, (int) (w->n & 0xff), sizeof blk);
        if (pwrite(w->fd, blk, sizeof blk, off) < 0)
                return -errno;
        if ((w->n & 127) == 0 && fdatasync(w->fd) < 0)
                return -errno;
        return 0;
}
#define load_hdd_cleanup close_cleanup

/* kernel */
static int load_kernel_supported(const LoadParam *p) {
        (void) p;
        int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
        if (id < 0)
                return -errno;
        shmctl(id, IPC_RMID, NULL);
        id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
        if (id < 0)
                return -errno;
        semctl(id, 0, IPC_RMID);
        return 0;
}
static int load_kernel_setup(LoadWorker *w) {
        w->semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
        return w->semid < 0 ? -errno : 0;
}
static int load_kernel_op(LoadWorker *w) {
        enum { SHM = 64 << 10 };
        int id = shmget(IPC_PRIVATE, SHM, IPC_CREAT | 0600);
        if (id < 0)
                return -errno;
        void *m = shmat(id, NULL, 0);
        if (m == (void *) -1) {
                int e = errno;
                shmctl(id, IPC_RMID, NULL);
                return -e;
        }
        memset(m, (int) (w->n++ & 0xff), SHM);
        shmdt(m);
        shmctl(id, IPC_RMID, NULL);

        for (int i = 0; i < 8; i++) {
                struct sembuf v = { .sem_num = 0, .sem_op = 1 }, p = { .sem_num = 0, .sem_op = -1 };
                if (semop(w->semid, &v, 1) < 0 || semop(w->semid, &p, 1) < 0)
                        return -errno;
        }
        for (int i = 0; i < 4; i++)
                sched_yield();
        struct timespec ts = { .tv_nsec = 1000 };
        clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
        return 0;
}
static void load_kernel_cleanup(LoadWorker *w) {
        if (w->semid >= 0)
                semctl(w->semid, 0, IPC_RMID);
}

/* files */
#define load_files_supported dir_supported
#define load_files_setup ok_setup
static int load_files_op(LoadWorker *w) {
        static const char data[512];
        char path[4200];
        snprintf(path, sizeof path, "%s/xvbench-load-files.%d.%u.%llu", w->p->dir, (int) getpid(), w->index,
                 (unsigned long long) (w->n++ % 64));
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        ssize_t k = write(fd, data, sizeof data);
        int e = k < 0 ? errno : 0;
        close(fd);
        if (unlink(path) < 0 && !e)
                e = errno;
        return -e;
}
static void load_files_cleanup(LoadWorker *w) {
        (void) w;
}

/* udp */
static int load_udp_supported(const LoadParam *p) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int r = p->host ? 0 : RET_NERRNO(bind(fd, (struct sockaddr *) &a, sizeof a));
        close(fd);
        return r;
}
static int load_udp_setup(LoadWorker *w) {
        w->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (w->fd < 0)
                return -errno;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        if (w->p->host) {
                a.sin_port = htons((uint16_t) w->p->port);
                if (inet_pton(AF_INET, w->p->host, &a.sin_addr) != 1)
                        return -EINVAL;
        } else if (bind(w->fd, (struct sockaddr *) &a, sizeof a) < 0 ||
                   getsockname(w->fd, (struct sockaddr *) &a, &len) < 0)
                return -errno;
        return RET_NERRNO(connect(w->fd, (struct sockaddr *) &a, sizeof a));
}
static int load_udp_op(LoadWorker *w) {
        char buf[64] = { (char) w->n++ };
        if (send(w->fd, buf, sizeof buf, 0) < 0)
                return errno == ECONNREFUSED ? 0 : -errno;      /* remote sink not listening */
        if (!w->p->host && recv(w->fd, buf, sizeof buf, 0) < 0)
                return -errno;
        return 0;
}
static void load_udp_cleanup(LoadWorker *w) {
        if (w->fd >= 0)
                close(w->fd);
}

static const LoadGen generators[] = {
#define X(n, h) { #n, h, load_##n##_supported, load_##n##_setup, load_##n##_op, load_##n##_cleanup },
        LOAD_GENERATORS(X)
#undef X
};

#define USAGE_GEN(n, h) "  " #n "\t" h "\n"
const char wl_load_usage[] =
        "Usage: xvbench load GENERATOR [--workers N] [--duration D] [--bytes S]\n"
        "                    [--dir DIR] [--host ADDR --port P] [common options]\n"
        "\n"
        "Run N worker processes of one load generator for D; report operations\n"
        "per second (wall and CPU) and the CPU consumed.\n"
        "Generators:\n" LOAD_GENERATORS(USAGE_GEN)
        "Options:\n"
        "  --workers N   worker processes (default 1)\n"
        "  --duration D  how long (default 10s; bare number: seconds)\n"
        "  --bytes S     vm: mapping per cycle (default 64M); hdd: file per worker\n"
        "                (default 16M)\n"
        "  --dir DIR     where io, hdd and files work (default $TMPDIR or /tmp)\n"
        "  --host ADDR --port P  udp: send to ADDR:P instead of to self\n";

enum { OPT_WORKERS = OPT_WL, OPT_DURATION, OPT_BYTES, OPT_DIR, OPT_HOST, OPT_PORT };

static void worker(const LoadGen *g, const LoadParam *p, unsigned index, int go_fd, LoadShared *sh) {
        LoadWorker w = { .p = p, .index = index, .fd = -1, .semid = -1,
                         .seed = 0x9e3779b97f4a7c15ull ^ ((uint64_t) index << 32 | (uint64_t) getpid()) };
        int r = g->setup(&w);
        const char *where = "setup";
        if (r >= 0) {
                char x;
                if (read(go_fd, &x, 1) < 0 && errno != EINTR)
                        r = -errno;
                close(go_fd);
                uint64_t deadline = now_ns(CLOCK_MONOTONIC) + p->duration_ns;
                where = "operation";
                while (r >= 0) {
                        r = g->op(&w);
                        if (r < 0)
                                break;
                        __atomic_store_n(&sh->ops, sh->ops + 1, __ATOMIC_RELAXED);
                        if (now_ns(CLOCK_MONOTONIC) >= deadline)
                                break;
                }
        }
        g->cleanup(&w);
        if (r < 0) {
                sh->error = -r;
                snprintf(sh->where, sizeof sh->where, "%s", where);
                _exit(1);
        }
        _exit(0);
}

int wl_load_run(Bench *b, int argc, char **argv) {
        static const struct option opts[] = {
                { "workers", required_argument, NULL, OPT_WORKERS },
                { "duration", required_argument, NULL, OPT_DURATION },
                { "bytes", required_argument, NULL, OPT_BYTES },
                { "dir", required_argument, NULL, OPT_DIR },
                { "host", required_argument, NULL, OPT_HOST },
                { "port", required_argument, NULL, OPT_PORT },
                {}
        };
        LoadParam p = { .workers = 1, .duration_ns = 10 * NSEC_PER_SEC, .port = 7781 };
        bool have_bytes = false;
        uint64_t v;
        int c;
        while ((c = bench_getopt(b, argc, argv, opts)) != -1) {
                if (c == OPT_HELP)
                        return EXIT_OK;
                if (c < 0)
                        return -c;
                switch (c) {
                case OPT_WORKERS:
                        if (opt_count(b, "workers", optarg, 1, 1024, &v) < 0)
                                return EXIT_USAGE;
                        p.workers = (unsigned) v;
                        break;
                case OPT_DURATION:
                        if (opt_duration(b, "duration", optarg, NSEC_PER_SEC, &p.duration_ns) < 0)
                                return EXIT_USAGE;
                        if (p.duration_ns == 0)
                                return bench_usage(b, "--duration must be positive");
                        break;
                case OPT_BYTES:
                        if (opt_bytes(b, "bytes", optarg, &p.bytes) < 0)
                                return EXIT_USAGE;
                        have_bytes = true;
                        break;
                case OPT_DIR:
                        p.dir = optarg;
                        break;
                case OPT_HOST:
                        p.host = optarg;
                        break;
                case OPT_PORT:
                        if (opt_int(b, "port", optarg, 1, 65535, &p.port) < 0)
                                return EXIT_USAGE;
                        break;
                }
        }
        if (optind >= argc)
                return bench_usage(b, "missing generator (see 'xvbench help load')");
        const char *name = argv[optind++];
        const LoadGen *g = NULL;
        for (size_t i = 0; i < ELEMENTSOF(generators); i++)
                if (streq(generators[i].name, name))
                        g = &generators[i];
        if (!g)
                return bench_usage(b, "unknown generator '%s' (cpu, vm, io, hdd, kernel, files or udp)", name);
        if (optind < argc)
                return bench_usage(b, "unexpected argument '%s'", argv[optind]);
        if (p.host) {
                struct in_addr a;
                if (inet_pton(AF_INET, p.host, &a) != 1)
                        return bench_usage(b, "invalid --host '%s' (a numeric IPv4 address)", p.host);
        }
        if (!have_bytes)
                p.bytes = streq(g->name, "hdd") ? 16 << 20 : 64 << 20;
        if (streq(g->name, "hdd") && p.bytes < 4096)
                return bench_usage(b, "--bytes must be at least 4K for hdd");
        if (!p.dir) {
                const char *t = getenv("TMPDIR");
                p.dir = t && *t ? t : "/tmp";
        }
        int r = bench_open_output(b);
        if (r)
                return r;
        if ((r = g->supported(&p)) < 0)
                return bench_fail(b, r, "generator '%s' is not supported here", g->name);

        LoadShared *sh = mmap(NULL, p.workers * sizeof(LoadShared), PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED)
                return bench_fail(b, errno, "cannot map shared memory");
        memset(sh, 0, p.workers * sizeof(LoadShared));
        int go[2];
        if (pipe2(go, O_CLOEXEC) < 0)
                return bench_fail(b, errno, "cannot create a pipe");
        fflush(NULL);
        pid_t *pids = calloc(p.workers, sizeof(pid_t));
        if (!pids)
                return bench_fail(b, ENOMEM, "out of memory");
        unsigned started = 0;
        for (; started < p.workers; started++) {
                pid_t pid = fork();
                if (pid < 0)
                        break;
                if (pid == 0) {
                        close(go[1]);
                        worker(g, &p, started, go[0], &sh[started]);
                }
                pids[started] = pid;
        }
        close(go[0]);
        uint64_t u0, s0, u1, s1;
        cpu_children_ns(&u0, &s0);
        bench_start(b);
        close(go[1]);
        unsigned failed = 0, first = 0;
        for (unsigned i = 0; i < started; i++) {
                int st;
                while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
                        ;
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                        if (failed++ == 0)
                                first = i;
        }
        bench_stop(b);
        cpu_children_ns(&u1, &s1);
        free(pids);

        int ret;
        if (started < p.workers)
                ret = bench_fail(b, ENOMEM, "could start only %u of %u workers", started, p.workers);
        else if (failed)
                ret = bench_fail(b, sh[first].error, "%u of %u workers failed; the first in %s", failed, p.workers,
                                 sh[first].where[0] ? sh[first].where : "exit");
        else {
                uint64_t ops = 0, wall = b->end_mono - b->start_mono, cpu = (u1 - u0) + (s1 - s0);
                uint64_t *per = calloc(p.workers, sizeof(uint64_t));
                for (unsigned i = 0; i < p.workers; i++) {
                        ops += sh[i].ops;
                        if (per)
                                per[i] = sh[i].ops;
                }
                report_begin(b);
                out_begin(b, "params");
                out_str(b, "generator", g->name);
                out_str(b, "operation", g->help);
                out_u64(b, "workers", p.workers);
                out_u64(b, "duration_ns", p.duration_ns);
                out_u64(b, "bytes", p.bytes);
                out_str(b, "dir", p.dir);
                out_end(b);
                out_begin(b, "results");
                out_u64(b, "operations", ops);
                out_u64(b, "wall_ns", wall);
                out_u64(b, "cpu_ns", cpu);
                out_u64(b, "user_ns", u1 - u0);
                out_u64(b, "sys_ns", s1 - s0);
                out_double(b, "cpu_utilization_percent", wall ? 100.0 * (double) cpu / (double) wall : 0);
                out_double(b, "operations_per_s", wall ? (double) ops * 1e9 / (double) wall : 0);
                out_double(b, "operations_per_cpu_s", cpu ? (double) ops * 1e9 / (double) cpu : 0);
                if (per)
                        out_u64_array(b, "per_worker_operations", per, p.workers);
                out_end(b);
                free(per);
                ret = report_end(b);
        }
        munmap(sh, p.workers * sizeof(LoadShared));
        return ret;
}
