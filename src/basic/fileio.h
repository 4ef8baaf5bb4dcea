/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Read a whole (small, pseudo-)file.  Fails with -EFBIG past max bytes.
 * Returns 0 and a NUL-terminated buffer in *ret (length in *ret_size if non-NULL). */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);

/* Read the first line of a file, without the trailing newline. */
int read_one_line(const char *path, char **ret);

/* Write a string to an existing file (cgroupfs, procfs): open, write, close.
 * Returns -errno of the write, which is what the kernel uses to reject values. */
int write_string_file(const char *path, const char *s);

/* Atomically replace a file: write path.tmp, fsync, rename. */
int write_file_atomic(const char *path, const char *data, size_t len);

int read_u64_file(const char *path, uint64_t *ret);
int read_i64_file(const char *path, int64_t *ret);
