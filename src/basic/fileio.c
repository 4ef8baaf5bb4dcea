/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/macros.h"
#include "basic/parse.h"

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        return read_full_file_at(AT_FDCWD, path, 0, max, ret, ret_size);
}

int read_full_file_at(int dir_fd, const char *name, int flags, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | flags);
        if (fd < 0)
                return negative_errno();

        size_t cap = 4096, len = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len + 1 >= cap) {
                        if (cap >= max + 2)
                                return -EFBIG;
                        /* Room for max bytes, the NUL, and one byte to tell "more". */
                        size_t ncap = MIN(cap * 2, max + 2);
                        char *n = realloc(buf, ncap);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        cap = ncap;
                }
                ssize_t k = read(fd, buf + len, cap - 1 - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = 0;
        if (ret_size)
                *ret_size = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

int read_one_line(const char *path, char **ret) {
        char *buf;
        int r = read_full_file(path, 1 << 20, &buf, NULL);
        if (r < 0)
                return r;
        buf[strcspn(buf, "\n")] = 0;
        *ret = buf;
        return 0;
}

int write_string_file(const char *path, const char *s) {
        /* O_TRUNC: pseudo-files ignore it; on a plain file (test fixtures)
         * a shorter value must not leave the old tail behind. */
        _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        size_t n = strlen(s);
        ssize_t k;
        do
                k = write(fd, s, n);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return negative_errno();
        if ((size_t) k != n)
                return -EIO;
        return 0;
}

int write_file_atomic(const char *path, const char *data, size_t len) {
        return write_file_atomic_at(AT_FDCWD, path, data, len);
}

int write_file_atomic_at(int dir_fd, const char *name, const char *data, size_t len) {
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp", name) < 0)
                return -ENOMEM;
        /* A stale (or planted) NAME.tmp is removed, never followed: unlinkat
         * removes a symlink itself, and O_EXCL|O_NOFOLLOW refuses whatever
         * appears in between. */
        if (unlinkat(dir_fd, tmp, 0) < 0 && errno != ENOENT)
                return negative_errno();
        _cleanup_close_ int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();
        size_t done = 0;
        while (done < len) {
                ssize_t k = write(fd, data + done, len - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = negative_errno();
                        (void) unlinkat(dir_fd, tmp, 0);
                        return r;
                }
                done += (size_t) k;
        }
        if (fsync(fd) < 0 || renameat(dir_fd, tmp, dir_fd, name) < 0) {
                int r = negative_errno();
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        return 0;
}

int read_u64_file(const char *path, uint64_t *ret) {
        _cleanup_free_ char *line = NULL;
        int r = read_one_line(path, &line);
        if (r < 0)
                return r;
        return safe_atou64(line, ret);
}

int read_i64_file(const char *path, int64_t *ret) {
        _cleanup_free_ char *line = NULL;
        int r = read_one_line(path, &line);
        if (r < 0)
                return r;
        return safe_atoi64(line, ret);
}

int fd_ensure_std(void) {
        for (int fd = 0; fd <= 2; fd++) {
                if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
                        continue;
                /* the lowest free fd is this one */
                int n = open("/dev/null", O_RDWR | O_NOCTTY);
                if (n < 0)
                        return negative_errno();
                if (n != fd) {
                        close(n);
                        return -EBADF;
                }
        }
        return 0;
}

int open_append_safe(const char *path, int *ret_fd) {
        /* O_NONBLOCK: a FIFO without a reader must not hang the open */
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0600);
        if (fd < 0)
                return negative_errno();
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid())) {
                close(fd);
                return -EPERM;
        }
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}
