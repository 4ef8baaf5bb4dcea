/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Read a whole (small, pseudo-)file.  Fails with -EFBIG past max bytes.
 * Returns 0 and a NUL-terminated buffer in *ret (length in *ret_size if non-NULL). */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);
/* The same relative to a directory fd (AT_FDCWD: the working directory),
 * with extra open flags (O_NOFOLLOW). */
int read_full_file_at(int dir_fd, const char *name, int flags, size_t max, char **ret, size_t *ret_size);

/* Read the first line of a file, without the trailing newline. */
int read_one_line(const char *path, char **ret);

/* Write a string to an existing file (cgroupfs, procfs): open, write, close.
 * Returns -errno of the write, which is what the kernel uses to reject values. */
int write_string_file(const char *path, const char *s);

/* Atomically replace a file: write path.tmp, fsync, rename.  The temporary
 * file is created fresh (a stale one is unlinked first, O_EXCL|O_NOFOLLOW),
 * so a symlink planted as path.tmp is never followed; mode 0600. */
int write_file_atomic(const char *path, const char *data, size_t len);
/* The same relative to a directory fd (AT_FDCWD: the working directory). */
int write_file_atomic_at(int dir_fd, const char *name, const char *data, size_t len);

int read_u64_file(const char *path, uint64_t *ret);
int read_i64_file(const char *path, int64_t *ret);

/* Open /dev/null onto each of fds 0, 1 and 2 that is not open, so that no
 * file the process opens later (a lock, a pipe) lands there and is written
 * to as stderr or kept open by a child.  Call first thing in main(). */
int fd_ensure_std(void);

/* Open path for appending (a log, the daemon's timeline) as root would
 * safely: never through a symlink (O_NOFOLLOW: -ELOOP), created 0600, only
 * a regular file (-EPERM for a FIFO, device, directory...), owned by root
 * or by our euid (-EPERM otherwise).  O_CLOEXEC. */
int open_append_safe(const char *path, int *ret_fd);
