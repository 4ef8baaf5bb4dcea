/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "qmp/qmp.h"
#include "vmi/mem.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

#define GIB (UINT64_C(1) << 30)

static void mem_update_totals(VmiMem *m) {
        m->ram_size = 0;
        m->gpa_end = 0;
        for (size_t i = 0; i < m->n_regions; i++) {
                m->ram_size += m->regions[i].size;
                m->gpa_end = MAX(m->gpa_end, m->regions[i].gpa + m->regions[i].size);
        }
}

static VmiMem *mem_new(void) {
        VmiMem *m = calloc(1, sizeof *m);
        if (!m)
                return NULL;
        for (size_t i = 0; i < VMI_MEM_MAX_REGIONS; i++)
                m->fd[i] = -EBADF;
        return m;
}

void vmi_mem_free(VmiMem *m) {
        if (!m)
                return;
        if (m->mapped)
                for (size_t i = 0; i < m->n_regions; i++)
                        if (m->regions[i].local)
                                munmap(m->regions[i].local, m->regions[i].size);
        for (size_t i = 0; i < VMI_MEM_MAX_REGIONS; i++)
                if (m->fd[i] >= 0)
                        close(m->fd[i]);
        free(m);
}

static const VmiRegion *find_region(const VmiMem *m, uint64_t gpa) {
        for (size_t i = 0; i < m->n_regions; i++) {
                const VmiRegion *r = &m->regions[i];
                if (gpa >= r->gpa && gpa - r->gpa < r->size)
                        return r;
        }
        return NULL;
}

bool vmi_mem_valid(const VmiMem *m, uint64_t gpa, size_t len) {
        while (len > 0) {
                const VmiRegion *r = find_region(m, gpa);
                if (!r)
                        return false;
                uint64_t avail = r->size - (gpa - r->gpa);
                if (avail >= len)
                        return true;
                gpa += avail;
                len -= avail;
        }
        return true;
}

const uint8_t *vmi_mem_ptr(const VmiMem *m, uint64_t gpa, size_t len) {
        const VmiRegion *r = find_region(m, gpa);
        if (!r || !r->local || len > r->size - (gpa - r->gpa))
                return NULL;
        return r->local + (gpa - r->gpa);
}

/* Split [gpa, gpa+len) into per-region pieces; calls fn for each. */
typedef int (*piece_fn)(VmiMem *m, const VmiRegion *r, uint64_t off, uint8_t *buf, size_t len, void *u);

static int for_each_piece(VmiMem *m, uint64_t gpa, uint8_t *buf, size_t len, piece_fn fn, void *u) {
        while (len > 0) {
                const VmiRegion *r = find_region(m, gpa);
                if (!r)
                        return -EFAULT;
                uint64_t off = gpa - r->gpa;
                size_t n = (size_t) MIN((uint64_t) len, r->size - off);
                int k = fn(m, r, off, buf, n, u);
                if (k < 0)
                        return k;
                gpa += n;
                buf += n;
                len -= n;
        }
        return 0;
}

static int xp_read(VmiMem *m, uint64_t gpa, uint8_t *buf, size_t len);

static int piece_read(VmiMem *m, const VmiRegion *r, uint64_t off, uint8_t *buf, size_t len, void *u) {
        (void) u;
        if (r->local) {
                memcpy(buf, r->local + off, len);
                return 0;
        }
        if (m->kind == VMI_MEM_QMP)
                return xp_read(m, r->gpa + off, buf, len);
        struct iovec l = { buf, len }, rem = { (void *) (uintptr_t) (r->hva + off), len };
        m->stats.calls++;
        ssize_t k = process_vm_readv(m->pid, &l, 1, &rem, 1, 0);
        if (k < 0)
                return negative_errno();
        if ((size_t) k != len)
                return -EIO;
        return 0;
}

int vmi_mem_read(VmiMem *m, uint64_t gpa, void *buf, size_t len) {
        if (!vmi_mem_valid(m, gpa, len))
                return -EFAULT;
        m->stats.bytes += len;
        return for_each_piece(m, gpa, buf, len, piece_read, NULL);
}

static int piece_write(VmiMem *m, const VmiRegion *r, uint64_t off, uint8_t *buf, size_t len, void *u) {
        (void) u;
        if (r->local) {
                memcpy(r->local + off, buf, len);
                return 0;
        }
        if (m->kind != VMI_MEM_PROCESS)
                return -EOPNOTSUPP;
        struct iovec l = { buf, len }, rem = { (void *) (uintptr_t) (r->hva + off), len };
        m->stats.calls++;
        ssize_t k = process_vm_writev(m->pid, &l, 1, &rem, 1, 0);
        if (k < 0)
                return negative_errno();
        return (size_t) k == len ? 0 : -EIO;
}

int vmi_mem_write(VmiMem *m, uint64_t gpa, const void *buf, size_t len) {
        if (!m->writable)
                return -EROFS;
        if (!vmi_mem_valid(m, gpa, len))
                return -EFAULT;
        return for_each_piece(m, gpa, (uint8_t *) buf, len, piece_write, NULL);
}

int vmi_mem_scan_window(VmiMem *m, uint64_t gpa, size_t len, uint8_t *buf, const uint8_t **ret) {
        const VmiRegion *r = find_region(m, gpa);
        if (!r || len > r->size - (gpa - r->gpa))
                return -EFAULT;
        size_t i = (size_t) (r - m->regions);
        if (m->fd[i] >= 0) {
                off_t off = (off_t) (m->fd_off[i] + (gpa - r->gpa));
                off_t data = lseek(m->fd[i], off, SEEK_DATA);
                if ((data < 0 && errno == ENXIO) || (data >= 0 && (uint64_t) (data - off) >= len))
                        return 0;   /* a hole: zeros */
                size_t got = 0;
                while (got < len) {
                        ssize_t k = pread(m->fd[i], buf + got, len - got, off + (off_t) got);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                break;
                        got += (size_t) k;
                }
                if (got == len) {
                        m->stats.calls++;
                        m->stats.bytes += len;
                        *ret = buf;
                        return 1;
                }
                log_debug("vmi: pread of the RAM file failed, reading the mapping");
        }
        if (r->local) {
                *ret = r->local + (gpa - r->gpa);
                return 1;
        }
        int k = vmi_mem_read(m, gpa, buf, len);
        if (k < 0)
                return k;
        *ret = buf;
        return 1;
}

int vmi_mem_scan(VmiMem *mem, uint64_t start, const void *pat, size_t plen, VmiScanFn fn, void *u) {
        _cleanup_free_ uint8_t *buf = NULL;
        if (mem->n_regions == 0)
                return -ENODATA;
        /* Order: from `start` to the end of its region and the following
         * regions, then from the beginning up to `start`. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < mem->n_regions; i++) {
                        const VmiRegion *rg = &mem->regions[i];
                        uint64_t a = rg->gpa, b = rg->gpa + rg->size;
                        if (pass == 0) {
                                if (b <= start)
                                        continue;
                                a = MAX(a, start);
                        } else {
                                if (a >= start)
                                        continue;
                                b = MIN(b, start + plen);
                        }
                        for (uint64_t off = a; off < b; off += VMI_MEM_SCAN_CHUNK) {
                                size_t len = (size_t) MIN((uint64_t) VMI_MEM_SCAN_CHUNK + plen - 1, b - off);
                                if (len < plen)
                                        break;
                                /* Through the RAM file where there is one: touching
                                 * a mapping of all of RAM would make it ours (RSS)
                                 * and fill its holes. */
                                if (!buf && !(buf = malloc(VMI_MEM_SCAN_CHUNK + plen)))
                                        return -ENOMEM;
                                const uint8_t *p = NULL;
                                int r = vmi_mem_scan_window(mem, off, len, buf, &p);
                                if (r < 0)
                                        return r;
                                if (r == 0) {
                                        if (((const uint8_t *) pat)[0] != 0)
                                                continue;   /* a hole: zeros */
                                        memset(buf, 0, len);
                                        p = buf;
                                }
                                /* memchr on the first byte, then compare: glibc's
                                 * memmem is slow on RAM that is mostly zeros */
                                const uint8_t *q = p, *e = p + len - plen + 1;
                                const uint8_t first = ((const uint8_t *) pat)[0];
                                while (q < e && (q = memchr(q, first, (size_t) (e - q)))) {
                                        if (memcmp(q, pat, plen) == 0) {
                                                int r = fn(u, off + (uint64_t) (q - p), q, (size_t) (p + len - q));
                                                if (r != 0)
                                                        return r;
                                        }
                                        q++;
                                }
                        }
                }
        return 0;
}

int vmi_mem_readv(VmiMem *m, const VmiIov *iov, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!vmi_mem_valid(m, iov[i].gpa, iov[i].len))
                        return -EFAULT;
        if (m->kind != VMI_MEM_PROCESS) {
                for (size_t i = 0; i < n; i++) {
                        int r = vmi_mem_read(m, iov[i].gpa, iov[i].buf, iov[i].len);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        /* Pieces that are addressable are copied; the rest go out in
         * process_vm_readv batches.  A piece spanning two regions (rare: a
         * struct across the 4 GiB hole cannot exist, but adjacent blocks can)
         * is read on its own. */
        struct iovec loc[IOV_MAX], rem[IOV_MAX];
        size_t k = 0, want = 0;
        for (size_t i = 0; i <= n; i++) {
                if (i < n) {
                        const VmiRegion *r = find_region(m, iov[i].gpa);
                        uint64_t off = iov[i].gpa - r->gpa;
                        m->stats.bytes += iov[i].len;
                        if (iov[i].len > r->size - off || r->local) {
                                int q = for_each_piece(m, iov[i].gpa, iov[i].buf, iov[i].len, piece_read, NULL);
                                if (q < 0)
                                        return q;
                                continue;
                        }
                        if (iov[i].len == 0)
                                continue;
                        loc[k] = (struct iovec) { iov[i].buf, iov[i].len };
                        rem[k] = (struct iovec) { (void *) (uintptr_t) (r->hva + off), iov[i].len };
                        want += iov[i].len;
                        k++;
                }
                if (k > 0 && (k == IOV_MAX || i == n)) {
                        m->stats.calls++;
                        ssize_t got = process_vm_readv(m->pid, loc, k, rem, k, 0);
                        if (got < 0)
                                return negative_errno();
                        if ((size_t) got != want)
                                return -EIO;
                        k = 0;
                        want = 0;
                }
        }
        return 0;
}

/* ---- parsers ---------------------------------------------------------- */

int vmi_parse_ramblock(const char *text, char *ret_name, size_t name_size, uint64_t *ret_size) {
        char best[128] = "";
        uint64_t best_size = 0;
        const char *p = text;
        while (p && *p) {
                const char *eol = strchr(p, '\n');
                size_t n = eol ? (size_t) (eol - p) : strlen(p);
                char line[512];
                if (n < sizeof line) {
                        memcpy(line, p, n);
                        line[n] = 0;
                        char name[128], psize[32], unit[16];
                        uint64_t off, used;
                        if (sscanf(line, " %127s %31s %15s 0x%" SCNx64 " 0x%" SCNx64, name, psize, unit, &off, &used) == 5 &&
                            used > best_size) {
                                best_size = used;
                                snprintf(best, sizeof best, "%s", name);
                        }
                }
                p = eol ? eol + 1 : NULL;
        }
        if (best_size == 0)
                return -ENODATA;
        if (strlen(best) >= name_size)
                return -ENAMETOOLONG;
        strcpy(ret_name, best);
        *ret_size = best_size;
        return 0;
}

int vmi_parse_mtree(const char *text, const char *name, VmiRamRange **ret, size_t *ret_n) {
        VmiRamRange *v = NULL;
        size_t n = 0, cap = 0;
        bool in_memory = false, done = false;
        const char *p = text;
        while (p && *p && !done) {
                const char *eol = strchr(p, '\n');
                size_t len = eol ? (size_t) (eol - p) : strlen(p);
                char line[512];
                if (len >= sizeof line)
                        len = sizeof line - 1;
                memcpy(line, p, len);
                line[len] = 0;
                p = eol ? eol + 1 : NULL;

                if (strneq(line, "FlatView", 8)) {
                        if (in_memory && n > 0)
                                done = true;   /* only the first view holding AS "memory" */
                        in_memory = false;
                        continue;
                }
                if (strstr(line, "AS \"memory\""))
                        in_memory = true;
                if (!in_memory)
                        continue;
                uint64_t a, b, off = 0;
                char kind[32], nm[128];
                int prio;
                if (sscanf(line, " %" SCNx64 "-%" SCNx64 " (prio %d, %31[^)]): %127s", &a, &b, &prio, kind, nm) != 5)
                        continue;
                if (!streq(nm, name) || b < a || (!streq(kind, "ram") && !streq(kind, "rom")))
                        continue;
                const char *at = strchr(line, '@');
                if (at && sscanf(at + 1, "%" SCNx64, &off) != 1)
                        continue;
                if (!at)
                        off = 0;
                uint64_t size = b - a + 1;
                if (n > 0 && v[n - 1].gpa + v[n - 1].size == a && v[n - 1].offset + v[n - 1].size == off) {
                        v[n - 1].size += size;
                        continue;
                }
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 8;
                        VmiRamRange *nv = realloc(v, nc * sizeof *v);
                        if (!nv) {
                                free(v);
                                return -ENOMEM;
                        }
                        v = nv;
                        cap = nc;
                }
                v[n++] = (VmiRamRange) { .gpa = a, .size = size, .offset = off };
        }
        if (n == 0) {
                free(v);
                return -ENODATA;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int vmi_pc_layout(uint64_t ram_size, bool q35, VmiRamRange ret[2], size_t *ret_n) {
        if (ram_size == 0)
                return -EINVAL;
        uint64_t lowmem = ram_size;
        if (q35 && ram_size >= UINT64_C(0xb0000000))
                lowmem = UINT64_C(0x80000000);
        else if (!q35 && ram_size >= UINT64_C(0xe0000000))
                lowmem = UINT64_C(0xc0000000);
        ret[0] = (VmiRamRange) { .gpa = 0, .size = lowmem, .offset = 0 };
        *ret_n = 1;
        if (lowmem < ram_size) {
                ret[1] = (VmiRamRange) { .gpa = 4 * GIB, .size = ram_size - lowmem, .offset = lowmem };
                *ret_n = 2;
        }
        return 0;
}

/* ---- sources ---------------------------------------------------------- */

int vmi_mem_open_regions(const VmiRegion *regions, size_t n, bool writable, VmiMem **ret) {
        if (n == 0 || n > VMI_MEM_MAX_REGIONS)
                return -EINVAL;
        VmiMem *m = mem_new();
        if (!m)
                return -ENOMEM;
        m->kind = VMI_MEM_BUFFER;
        memcpy(m->regions, regions, n * sizeof *regions);
        m->n_regions = n;
        m->writable = writable;
        m->how = "buffer";
        mem_update_totals(m);
        *ret = m;
        return 0;
}

int vmi_mem_open_fd(int fd, uint64_t size, bool writable, VmiMem **ret) {
        if (fd < 0 || size == 0 || size > SIZE_MAX)
                return -EINVAL;
        _cleanup_close_ int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return negative_errno();
        void *p = mmap(NULL, (size_t) size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, dfd, 0);
        if (p == MAP_FAILED)
                return negative_errno();
        VmiMem *m = mem_new();
        if (!m) {
                munmap(p, (size_t) size);
                return -ENOMEM;
        }
        m->kind = VMI_MEM_BUFFER;
        m->regions[0] = (VmiRegion) { .gpa = 0, .size = size, .local = p };
        m->n_regions = 1;
        m->mapped = true;
        m->fd[0] = TAKE_FD(dfd);
        m->fd_off[0] = 0;
        m->writable = writable;
        m->how = "file+mmap";
        mem_update_totals(m);
        *ret = m;
        return 0;
}

int vmi_mem_open_buffer(const void *image, size_t size, bool writable, VmiMem **ret) {
        VmiRegion r = { .gpa = 0, .size = size, .local = (uint8_t *) image };
        return vmi_mem_open_regions(&r, 1, writable, ret);
}

int vmi_mem_open_qmp(QmpClient *qmp, const VmiRegion *regions, size_t n, VmiMem **ret) {
        if (!qmp || n == 0 || n > VMI_MEM_MAX_REGIONS)
                return -EINVAL;
        VmiMem *m = mem_new();
        if (!m)
                return -ENOMEM;
        m->kind = VMI_MEM_QMP;
        m->qmp = qmp;
        for (size_t i = 0; i < n; i++)
                m->regions[i] = (VmiRegion) { .gpa = regions[i].gpa, .size = regions[i].size };
        m->n_regions = n;
        m->how = "qmp-xp";
        mem_update_totals(m);
        *ret = m;
        return 0;
}

#define XP_MAX_WORDS 256

static int xp_read(VmiMem *m, uint64_t gpa, uint8_t *buf, size_t len) {
        while (len > 0) {
                uint64_t base = gpa & ~UINT64_C(7);
                size_t skip = (size_t) (gpa - base);
                size_t words = MIN((skip + len + 7) / 8, (size_t) XP_MAX_WORDS);
                char cmd[64];
                snprintf(cmd, sizeof cmd, "xp /%zug 0x%" PRIx64, words, base);
                _cleanup_free_ char *out = NULL;
                m->stats.calls++;
                int r = qmp_hmp(m->qmp, cmd, &out);
                if (r < 0)
                        return r;
                uint8_t tmp[XP_MAX_WORDS * 8];
                size_t got = 0;
                for (const char *p = out; *p && got < words;) {
                        const char *colon = strchr(p, ':');
                        if (!colon)
                                break;
                        const char *q = colon + 1;
                        const char *eol = strchr(q, '\n');
                        while (got < words) {
                                while (*q == ' ' || *q == '\t')
                                        q++;
                                if (!strneq(q, "0x", 2) || (eol && q >= eol))
                                        break;
                                char *end;
                                uint64_t w = strtoull(q, &end, 16);
                                memcpy(tmp + got * 8, &w, 8);
                                got++;
                                q = end;
                        }
                        p = eol ? eol + 1 : q + strlen(q);
                }
                if (got != words)
                        return -EPROTO;
                size_t n = MIN(len, words * 8 - skip);
                memcpy(buf, tmp + skip, n);
                buf += n;
                gpa += n;
                len -= n;
        }
        return 0;
}

typedef struct MapEntry {
        uint64_t start, end, offset;
        char perms[5];
        unsigned long inode;
        char path[256];
} MapEntry;

static int read_maps(pid_t pid, MapEntry **ret, size_t *ret_n) {
        char fn[64];
        snprintf(fn, sizeof fn, "/proc/%d/maps", (int) pid);
        _cleanup_free_ char *text = NULL;
        int r = read_full_file(fn, 64u << 20, &text, NULL);
        if (r < 0)
                return r;
        MapEntry *v = NULL;
        size_t n = 0, cap = 0;
        for (char *p = text; p && *p;) {
                char *eol = strchr(p, '\n');
                if (eol)
                        *eol = 0;
                MapEntry e = {};
                int pos = 0;
                char dev[32];
                if (sscanf(p, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %31s %lu %n", &e.start, &e.end, e.perms, &e.offset,
                           dev, &e.inode, &pos) >= 6) {
                        if (pos > 0)
                                snprintf(e.path, sizeof e.path, "%s", p + pos);
                        if (n == cap) {
                                size_t nc = cap ? cap * 2 : 64;
                                MapEntry *nv = realloc(v, nc * sizeof *v);
                                if (!nv) {
                                        free(v);
                                        return -ENOMEM;
                                }
                                v = nv;
                                cap = nc;
                        }
                        v[n++] = e;
                }
                p = eol ? eol + 1 : NULL;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static bool map_is_ram_candidate(const MapEntry *e) {
        if (e->perms[0] != 'r' || e->perms[1] != 'w' || e->perms[2] == 'x')
                return false;
        if (e->perms[3] == 'p')   /* private: anonymous only */
                return e->inode == 0 && (e->path[0] == 0 || strneq(e->path, "[anon", 5));
        return true;              /* shared: memfd or file backend */
}

/* The size given with -m on QEMU's command line (MiB unless suffixed), and q35. */
static void qemu_cmdline_hints(pid_t pid, uint64_t *ret_ram, bool *ret_q35) {
        char fn[64];
        snprintf(fn, sizeof fn, "/proc/%d/cmdline", (int) pid);
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        *ret_ram = 0;
        *ret_q35 = false;
        if (read_full_file(fn, 1u << 20, &text, &size) < 0)
                return;
        for (size_t i = 0; i < size;) {
                const char *a = text + i;
                size_t l = strnlen(a, size - i);
                const char *next = i + l + 1 < size ? a + l + 1 : NULL;
                if (strstr(a, "q35"))
                        *ret_q35 = true;
                if (streq(a, "-m") && next) {
                        const char *s = next;
                        if (strneq(s, "size=", 5))
                                s += 5;
                        char *end;
                        uint64_t v = strtoull(s, &end, 10);
                        switch (toupper((unsigned char) *end)) {
                        case 'K': v <<= 10; break;
                        case 'G': v <<= 30; break;
                        case 'T': v <<= 40; break;
                        case 'B': break;
                        default: v <<= 20; break;   /* M or none */
                        }
                        *ret_ram = v;
                }
                i += l + 1;
        }
}

/* Map a shared RAM block; *ret_fd stays open for scans (vmi_mem_scan_window). */
static int map_shared_region(pid_t pid, const MapEntry *e, uint64_t off, uint64_t size, uint8_t **ret,
                             int *ret_fd, uint64_t *ret_fd_off) {
        char fn[96];
        snprintf(fn, sizeof fn, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int) pid, e->start, e->end);
        _cleanup_close_ int fd = open(fn, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t) (e->offset + off));
        if (p == MAP_FAILED)
                return negative_errno();
        *ret = p;
        *ret_fd = TAKE_FD(fd);
        *ret_fd_off = e->offset + off;
        return 0;
}

int vmi_mem_open_process(pid_t pid, QmpClient *qmp, bool map_shared, VmiMem **ret) {
        if (pid <= 0)
                return -EINVAL;
        _cleanup_free_ VmiRamRange *ranges = NULL;
        size_t n_ranges = 0;
        uint64_t block_size = 0;
        const char *how = "maps";

        if (qmp) {
                _cleanup_free_ char *rb = NULL, *mt = NULL;
                char name[128];
                if (qmp_hmp(qmp, "info ramblock", &rb) >= 0 &&
                    vmi_parse_ramblock(rb, name, sizeof name, &block_size) >= 0 &&
                    qmp_hmp(qmp, "info mtree -f", &mt) >= 0 &&
                    vmi_parse_mtree(mt, name, &ranges, &n_ranges) >= 0)
                        how = "qmp-mtree";
                else {
                        log_debug("vmi: QMP did not give the RAM layout, using /proc/%d/maps", (int) pid);
                        block_size = 0;
                }
        }
        bool q35;
        uint64_t cmd_ram;
        qemu_cmdline_hints(pid, &cmd_ram, &q35);
        if (block_size == 0)
                block_size = cmd_ram;

        _cleanup_free_ MapEntry *maps = NULL;
        size_t n_maps = 0;
        int r = read_maps(pid, &maps, &n_maps);
        if (r < 0)
                return r;
        const MapEntry *ram = NULL;
        for (size_t i = 0; i < n_maps; i++) {
                const MapEntry *e = &maps[i];
                if (!map_is_ram_candidate(e))
                        continue;
                uint64_t sz = e->end - e->start;
                if (block_size ? sz == block_size : (sz >= (16u << 20) && (!ram || sz > ram->end - ram->start)))
                        if (!ram || (block_size && ram->perms[3] == 'p' && e->perms[3] == 's'))
                                ram = e;
        }
        if (!ram)
                return -ENXIO;
        if (block_size == 0)
                block_size = ram->end - ram->start;
        if (n_ranges == 0) {
                VmiRamRange pc[2];
                r = vmi_pc_layout(block_size, q35, pc, &n_ranges);
                if (r < 0)
                        return r;
                ranges = malloc(n_ranges * sizeof *ranges);
                if (!ranges)
                        return -ENOMEM;
                memcpy(ranges, pc, n_ranges * sizeof *ranges);
        }
        if (n_ranges > VMI_MEM_MAX_REGIONS)
                return -E2BIG;

        VmiMem *m = mem_new();
        if (!m)
                return -ENOMEM;
        m->kind = VMI_MEM_PROCESS;
        m->pid = pid;
        m->writable = true;
        m->how = how;
        bool shared = ram->perms[3] == 's' && map_shared;
        for (size_t i = 0; i < n_ranges; i++) {
                if (ranges[i].offset + ranges[i].size > block_size) {
                        vmi_mem_free(m);
                        return -EBADMSG;
                }
                VmiRegion *g = &m->regions[m->n_regions++];
                *g = (VmiRegion) { .gpa = ranges[i].gpa, .size = ranges[i].size, .hva = ram->start + ranges[i].offset };
                if (shared) {
                        r = map_shared_region(pid, ram, ranges[i].offset, ranges[i].size, &g->local,
                                              &m->fd[m->n_regions - 1], &m->fd_off[m->n_regions - 1]);
                        if (r < 0) {
                                log_debug_errno(r, "vmi: cannot map shared RAM, reading through the process: %m");
                                g->local = NULL;
                        } else
                                m->mapped = true;
                }
        }
        if (m->mapped)
                m->how = streq(how, "qmp-mtree") ? "qmp-mtree+mmap" : "maps+mmap";
        mem_update_totals(m);
        *ret = m;
        return 0;
}
