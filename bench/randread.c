/* SPDX-License-Identifier: GPL-2.0-or-later */
/* randread: L times lseek() to a random offset + read() of --size bytes per
 * repetition (paper 001, L:M:N = 1:0:0).  Without --direct the reads are
 * normally served from the page cache (the file is read once before the
 * measurement), which measures the syscall and copy path; with --direct
 * (O_DIRECT) every read goes to the (virtual) disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/macros.h"
#include "reps.h"

const char wl_randread_usage[] =
        "Usage: xvbench randread [--file F] [--file-size S] [--size S] [--loops L]\n"
        "                        [--reps R] [--direct] [--seed N] [common options]\n"
        "\n"
        "lseek() to a random offset, then read() --size bytes; L times per\n"
        "repetition, timed with the TSC.\n"
        "  --file F       file to read (default: xvbench-randread.dat in $TMPDIR or\n"
        "                 /tmp, created and removed); created with --file-size\n"
        "                 if missing, kept then\n"
        "  --file-size S  size of a file to create (default 64M)\n"
        "  --size S       bytes per read (default 256K; the paper: 256K, 512K, 1M)\n"
        "  --loops L      reads per repetition (default 100)\n"
        "  --reps R       repetitions, each kept (default 10)\n"
        "  --direct       O_DIRECT: bypass the page cache (offsets 4K-aligned)\n"
        "  --seed N       random seed (default 1)\n"
        "  --warmup N     discarded repetitions before (default 1)\n";

enum { OPT_FILE = OPT_WL, OPT_FILE_SIZE, OPT_SIZE, OPT_LOOPS, OPT_REPS, OPT_DIRECT, OPT_SEED };

typedef struct RandReadParam {
        int fd;
        void *buf;
        uint64_t size, file_size, loops, seed, align;
} RandReadParam;

static uint64_t xorshift64(uint64_t *s) {
        uint64_t x = *s;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return *s = x;
}

static int read_full(int fd, void *buf, size_t n) {
        size_t done = 0;
        while (done < n) {
                ssize_t k = read(fd, (char *) buf + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -ENODATA;
                done += (size_t) k;
        }
        return 0;
}

static int randread_body(void *userdata) {
        RandReadParam *p = userdata;
        uint64_t span = (p->file_size - p->size) / p->align + 1;
        for (uint64_t i = 0; i < p->loops; i++) {
                off_t off = (off_t) ((xorshift64(&p->seed) % span) * p->align);
                if (lseek(p->fd, off, SEEK_SET) < 0)
                        return -errno;
                int r = read_full(p->fd, p->buf, p->size);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int create_file(const char *path, uint64_t size) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        char *blk = malloc(1 << 20);
        if (!blk)
                return -ENOMEM;
        uint64_t s = 0x9e3779b97f4a7c15ull;
        for (size_t i = 0; i < (1 << 20) / 8; i++)
                ((uint64_t *) blk)[i] = xorshift64(&s);
        int r = 0;
        for (uint64_t done = 0; done < size && r == 0;) {
                size_t n = (size_t) MIN(size - done, (uint64_t) (1 << 20));
                ssize_t k = write(fd, blk, n);
                if (k < 0 && errno != EINTR)
                        r = -errno;
                else if (k > 0)
                        done += (uint64_t) k;
        }
        free(blk);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0)
                unlink(path);
        return r;
}

int wl_randread_run(Bench *b, int argc, char **argv) {
        static const struct option opts[] = {
                { "file", required_argument, NULL, OPT_FILE },
                { "file-size", required_argument, NULL, OPT_FILE_SIZE },
                { "size", required_argument, NULL, OPT_SIZE },
                { "loops", required_argument, NULL, OPT_LOOPS },
                { "reps", required_argument, NULL, OPT_REPS },
                { "direct", no_argument, NULL, OPT_DIRECT },
                { "seed", required_argument, NULL, OPT_SEED },
                {}
        };
        RandReadParam p = { .fd = -1, .size = 256 << 10, .loops = 100, .seed = 1, .align = 1 };
        uint64_t file_size = 64 << 20, reps = 10;
        const char *file = NULL;
        bool direct = false;
        int c;
        while ((c = bench_getopt(b, argc, argv, opts)) != -1) {
                if (c == OPT_HELP)
                        return EXIT_OK;
                if (c < 0)
                        return -c;
                switch (c) {
                case OPT_FILE:
                        file = optarg;
                        break;
                case OPT_FILE_SIZE:
                        if (opt_bytes(b, "file-size", optarg, &file_size) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_SIZE:
                        if (opt_bytes(b, "size", optarg, &p.size) < 0)
                                return EXIT_USAGE;
                        if (p.size > (1u << 30))
                                return bench_usage(b, "--size is at most 1G");
                        break;
                case OPT_LOOPS:
                        if (opt_count(b, "loops", optarg, 1, UINT64_MAX / 2, &p.loops) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_REPS:
                        if (opt_count(b, "reps", optarg, 1, 100000, &reps) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_DIRECT:
                        direct = true;
                        break;
                case OPT_SEED:
                        if (opt_count(b, "seed", optarg, 1, UINT64_MAX, &p.seed) < 0)
                                return EXIT_USAGE;
                        break;
                }
        }
        if (optind < argc)
                return bench_usage(b, "unexpected argument '%s'", argv[optind]);
        if (direct) {
                p.align = 4096;
                if (p.size % 4096)
                        return bench_usage(b, "--direct needs --size to be a multiple of 4K");
        }
        int r = bench_open_output(b);
        if (r)
                return r;
        if ((r = bench_need_tsc(b)))
                return r;

        char tmp[4096];
        bool created = false, remove_after = false;
        if (!file) {
                const char *dir = getenv("TMPDIR");
                snprintf(tmp, sizeof tmp, "%s/xvbench-randread.%d.dat", dir && *dir ? dir : "/tmp", (int) getpid());
                file = tmp;
                remove_after = true;
        }
        struct stat st;
        if (stat(file, &st) < 0) {
                if (errno != ENOENT)
                        return bench_fail(b, errno, "cannot stat '%s'", file);
                r = create_file(file, file_size);
                if (r < 0)
                        return bench_fail(b, r, "cannot create '%s'", file);
                created = true;
                p.file_size = file_size;
        } else {
                if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                        return bench_fail(b, 0, "'%s' is not a regular file or block device", file);
                p.file_size = (uint64_t) st.st_size;
                if (S_ISBLK(st.st_mode)) {
                        _cleanup_close_ int bfd = open(file, O_RDONLY | O_CLOEXEC);
                        off_t end = bfd >= 0 ? lseek(bfd, 0, SEEK_END) : -1;
                        p.file_size = end > 0 ? (uint64_t) end : 0;
                }
        }
        int ret = EXIT_FAIL;
        if (p.file_size < p.size) {
                bench_fail(b, 0, "'%s' is smaller (%llu bytes) than --size", file, (unsigned long long) p.file_size);
                goto out;
        }
        p.fd = open(file, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
        if (p.fd < 0) {
                bench_fail(b, errno, "cannot open '%s'%s", file, direct ? " with O_DIRECT" : "");
                goto out;
        }
        if (posix_memalign(&p.buf, 4096, p.size) != 0) {
                bench_fail(b, ENOMEM, "cannot allocate %llu bytes", (unsigned long long) p.size);
                goto out;
        }
        memset(p.buf, 0, p.size);
        if (!direct) {
                /* Bring the file into the page cache so that repetition 1 is
                 * not different from the others. */
                for (uint64_t off = 0; off + p.size <= p.file_size; off += p.size)
                        if (pread(p.fd, p.buf, p.size, (off_t) off) < 0)
                                break;
        }

        RepRun run = { .reps = (unsigned) reps, .warmup = bench_warmup(b, 1) };
        bench_start(b);
        r = reps_run(b, &run, randread_body, &p);
        bench_stop(b);
        if (r < 0) {
                reps_free(&run);
                bench_fail(b, r, "reading '%s' failed%s", file,
                           r == -EINVAL && direct ? " (O_DIRECT not supported by this file system?)" : "");
                goto out;
        }
        report_begin(b);
        out_begin(b, "params");
        out_str(b, "file", file);
        out_u64(b, "file_size_bytes", p.file_size);
        out_bool(b, "file_created", created);
        out_u64(b, "read_size_bytes", p.size);
        out_u64(b, "loops", p.loops);
        out_u64(b, "reps", reps);
        out_bool(b, "direct", direct);
        out_end(b);
        out_begin(b, "results");
        reps_report(b, &run, p.loops, p.size * p.loops);
        out_end(b);
        reps_free(&run);
        ret = report_end(b);
out:
        free(p.buf);
        if (p.fd >= 0)
                close(p.fd);
        if (created && remove_after)
                unlink(file);
        return ret;
}
