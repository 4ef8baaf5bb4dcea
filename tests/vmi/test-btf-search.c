/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel's BTF among many BTF blobs in guest RAM (src/vmi/btf-search.c):
 * a stock guest holds each loaded module's split BTF, page-cache copies and
 * BPF programs' BTF besides the kernel's; a hostile one can write millions of
 * headers.  Synthetic blobs built with libbpf, in a memory image behind
 * vmi_mem_open_buffer(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <bpf/btf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "fake-kernel.h"
#include "vmi/mem.h"
#include "vmi/vmi.h"

#define MIB (1u << 20)

/* Deterministic garbage (no BTF magic in it: checked by the tests). */
static void fill_garbage(uint8_t *p, size_t n, uint32_t seed) {
        uint32_t x = seed | 1;
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                p[i] = (uint8_t) x;
        }
}

/* A kernel-like base BTF: task_struct and rq, and `fill` more structs
 * (to make it larger). */
static struct btf *kernel_btf(int fill) {
        struct btf *b = btf__new_empty();
        assert_non_null(b);
        int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
        assert_true(i32 > 0);
        assert_true(btf__add_struct(b, "task_struct", 8) > 0);
        assert_int_equal(btf__add_field(b, "pid", i32, 0, 0), 0);
        assert_int_equal(btf__add_field(b, "tgid", i32, 32, 0), 0);
        assert_true(btf__add_struct(b, "rq", 4) > 0);
        assert_int_equal(btf__add_field(b, "cpu", i32, 0, 0), 0);
        for (int i = 0; i < fill; i++) {
                char n[32];
                snprintf(n, sizeof n, "kernel_thing_%d", i);
                assert_true(btf__add_struct(b, n, 4) > 0);
                assert_int_equal(btf__add_field(b, "x", i32, 0, 0), 0);
        }
        return b;
}

/* A BPF program's BTF: a base BTF that is not the kernel's. */
static struct btf *prog_btf(int fill) {
        struct btf *b = btf__new_empty();
        assert_non_null(b);
        int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
        for (int i = 0; i < fill; i++) {
                char n[32];
                snprintf(n, sizeof n, "prog_map_value_%d", i);
                assert_true(btf__add_struct(b, n, 4) > 0);
                assert_int_equal(btf__add_field(b, "v", i32, 0, 0), 0);
        }
        return b;
}

/* A module's split BTF on top of base: `types` structs referring to the
 * base's int, one of them named after a kernel struct it extends. */
static struct btf *module_btf(struct btf *base, int k, int types) {
        struct btf *b = btf__new_empty_split(base);
        assert_non_null(b);
        int i32 = btf__find_by_name_kind(base, "int", BTF_KIND_INT);
        assert_true(i32 > 0);
        for (int i = 0; i < types; i++) {
                char n[48];
                snprintf(n, sizeof n, "mod%d_priv_%d", k, i);
                assert_true(btf__add_struct(b, n, 8) > 0);
                assert_int_equal(btf__add_field(b, "task_struct_ref", i32, 0, 0), 0);
        }
        return b;
}

static size_t put_btf(uint8_t *img, size_t img_size, size_t at, const struct btf *b) {
        uint32_t size;
        const void *raw = btf__raw_data(b, &size);
        assert_non_null(raw);
        assert_true(at + size <= img_size);
        memcpy(img + at, raw, size);
        return size;
}

/* A BTF header: type_len bytes of types from 0, str_len of strings after. */
static void put_fake_header(uint8_t *img, size_t at, uint32_t type_len, uint32_t str_len) {
        static const uint8_t magic[8] = { 0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00 };
        uint32_t w[4] = { 0, type_len, type_len, str_len };
        memcpy(img + at, magic, 8);
        memcpy(img + at + 8, w, sizeof w);
}

/* The right header, garbage after it (as a decoy). */
static void put_broken(uint8_t *img, size_t at, uint32_t type_len, uint32_t str_len) {
        put_fake_header(img, at, type_len, str_len);
        memset(img + at + 24, 0x5a, 64);   /* first type of kind 26 */
}

static size_t count_magic(const uint8_t *img, size_t n) {
        static const uint8_t magic[8] = { 0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00 };
        size_t c = 0;
        for (const uint8_t *p = img; (p = memmem(p, n - (size_t) (p - img), magic, 8)); p++)
                c++;
        return c;
}

/* A stock guest: 200 modules' split BTF, 100 broken headers, a larger BPF
 * program's BTF, all before the kernel's blob (the old search gave up after
 * 64 headers: "no parsable kernel BTF in guest RAM (65 candidates)"). */
static void test_kernel_among_modules(void **state) {
        (void) state;
        const size_t size = 32 * MIB;
        uint8_t *img = malloc(size);
        assert_non_null(img);
        fill_garbage(img, size, 7);
        assert_int_equal(count_magic(img, size), 0);

        struct btf *kb = kernel_btf(2000);
        size_t at = 0;
        for (int k = 0; k < 200; k++, at += 8192) {
                struct btf *mb = module_btf(kb, k, 1 + k % 50);
                put_btf(img, size, at, mb);
                btf__free(mb);
        }
        for (int k = 0; k < 100; k++, at += 4096)
                put_broken(img, at, 0x1000 * (uint32_t) (k + 1), 0x1000);
        struct btf *pb = prog_btf(4000);
        size_t prog_size = put_btf(img, size, 8 * MIB, pb);
        size_t kern_size = put_btf(img, size, 24 * MIB, kb);
        assert_true(prog_size > kern_size);

        VmiMem *m;
        assert_int_equal(vmi_mem_open_buffer(img, size, false, &m), 0);
        struct btf *found = NULL;
        uint64_t gpa = 0;
        size_t found_size = 0;
        VmiBtfStats st;
        assert_int_equal(vmi_btf_locate(m, &found, &gpa, &found_size, &st), 0);
        assert_int_equal(gpa, 24 * MIB);
        assert_int_equal(found_size, kern_size);
        assert_true(btf__find_by_name_kind(found, "task_struct", BTF_KIND_STRUCT) > 0);
        assert_int_equal(st.headers, 302);
        assert_int_equal(st.split, 200);        /* told apart in the scan's window */
        assert_int_equal(st.bad, 100);
        assert_int_equal(st.candidates, 2);     /* the program's and the kernel's */
        assert_int_equal(st.looked, 2);         /* the program's first: it is larger */
        assert_int_equal(st.no_task_struct, 1);
        assert_int_equal(st.read_bytes, prog_size + kern_size);
        assert_int_equal(st.parsed, 1);         /* only the kernel's parsed by libbpf */
        btf__free(found);
        vmi_mem_free(m);
        btf__free(pb);
        btf__free(kb);
        free(img);
}

/* Split BTF alone is recognised without reading or parsing it: no kernel
 * here, and nothing parsed. */
static void test_split_cheap(void **state) {
        (void) state;
        const size_t size = 16 * MIB;
        uint8_t *img = calloc(1, size);
        assert_non_null(img);
        struct btf *kb = kernel_btf(100);
        for (int k = 0; k < 64; k++) {
                struct btf *mb = module_btf(kb, k, 200 + k);
                put_btf(img, size, (size_t) k * 65536, mb);
                btf__free(mb);
        }
        /* one across the end of the scan's first window: looked at later */
        struct btf *mb = module_btf(kb, 64, 10);
        put_btf(img, size, VMI_MEM_SCAN_CHUNK - 16, mb);
        btf__free(mb);
        VmiMem *m;
        assert_int_equal(vmi_mem_open_buffer(img, size, false, &m), 0);
        struct btf *found = NULL;
        uint64_t gpa;
        size_t found_size;
        VmiBtfStats st;
        assert_int_equal(vmi_btf_locate(m, &found, &gpa, &found_size, &st), -ENOENT);
        assert_null(found);
        assert_int_equal(st.headers, 65);
        assert_int_equal(st.split, 65);
        assert_int_equal(st.candidates, 1);
        assert_int_equal(st.looked, 1);
        assert_int_equal(st.read_bytes, 0);
        assert_int_equal(st.parsed, 0);

        /* and through attach: one line that says what was seen */
        Vmi *v = NULL;
        assert_int_equal(vmi_attach(m, NULL, &v), -ENOENT);
        assert_null(v);
        const char *e = vmi_last_error(NULL);
        assert_non_null(strstr(e, "no parsable kernel BTF"));
        assert_non_null(strstr(e, "65 BTF headers: 65 split"));
        assert_null(strchr(e, '\n'));
        vmi_mem_free(m);
        btf__free(kb);
        free(img);
}

/* The fake kernel with 300 modules' split BTF (on its own BTF) and broken
 * headers below its blob: attach finds it and goes on to init_task. */
static void test_attach_stock_like(void **state) {
        (void) state;
        FakeKernel fk = {};
        FakeSpec spec = { .processes = 3, .threads = 2, .kthreads = 2, .ncpus = 2, .decoy_btf = true };
        assert_int_equal(fake_kernel_build(&fk, &spec), 0);
        struct btf *base = btf__new(fk.image + FK_PA_BTF, (uint32_t) fk.btf_size);
        assert_non_null(base);
        size_t at = 0;
        int n = 0;
        for (; at + 4096 <= FK_PA_BTF - 0x10000; at += 2048, n++) {
                if (n % 3 == 2) {
                        put_fake_header(fk.image, at, 0x100, 0x100);
                        continue;
                }
                struct btf *mb = module_btf(base, n, 1 + n % 20);
                assert_true(put_btf(fk.image, FK_PA_BTF - 0x10000, at, mb) <= 2048);
                btf__free(mb);
        }
        assert_true(n > 300);
        VmiMem *m;
        assert_int_equal(vmi_mem_open_buffer(fk.image, fk.size, false, &m), 0);
        Vmi *v = NULL;
        VmiOptions o = { .max_cpus = 2 };
        int r = vmi_attach(m, &o, &v);
        if (r < 0)
                fprintf(stderr, "attach: %s\n", vmi_last_error(NULL));
        assert_int_equal(r, 0);
        assert_int_equal(v->btf_gpa, FK_PA_BTF);
        assert_int_equal(v->init_task_pa, FK_PA_INIT_TASK);
        assert_true(v->stats.btf.headers > 300);
        assert_int_equal(v->stats.btf.parsed, 1);
        VmiTask *t = NULL;
        size_t nt = 0;
        assert_int_equal(vmi_scan_retry(v, 3, &t, &nt), 0);
        assert_int_equal(nt, fk.n_tasks);
        free(t);
        vmi_free(v);
        vmi_mem_free(m);
        btf__free(base);
        fake_kernel_done(&fk);
}

/* A hostile guest: a header every 64 bytes of 56 MiB (nearly a million)
 * that passes the cheap checks, declaring blobs smaller than the kernel's:
 * every one is seen (no cap to exhaust), the kernel's is still found, and
 * only a bounded number are looked at, read and parsed. */
static void test_hostile_headers(void **state) {
        (void) state;
        const size_t size = 64 * MIB;
        uint8_t *img = calloc(1, size);
        assert_non_null(img);
        size_t n = 0;
        for (size_t at = 0; at + 64 <= 56 * MIB; at += 64, n++) {
                put_fake_header(img, at, 12, 16);
                uint32_t first[3] = { 0, 1u << 24, 4 };   /* an anonymous int */
                memcpy(img + at + 24, first, sizeof first);
        }
        struct btf *kb = kernel_btf(50);
        size_t kern_size = put_btf(img, size, 60 * MIB, kb);
        assert_true(kern_size > 24 + 0x20);
        VmiMem *m;
        assert_int_equal(vmi_mem_open_buffer(img, size, false, &m), 0);
        struct btf *found = NULL;
        uint64_t gpa = 0;
        size_t found_size = 0;
        VmiBtfStats st;
        assert_int_equal(vmi_btf_locate(m, &found, &gpa, &found_size, &st), 0);
        assert_int_equal(gpa, 60 * MIB);
        assert_int_equal(st.headers, n + 1);
        assert_int_equal(st.candidates, n + 1);
        assert_int_equal(st.looked, 1);
        assert_int_equal(st.parsed, 1);
        btf__free(found);

        /* The same headers declaring larger blobs whose cheap checks pass
         * (a first type of a known kind, strings from "" to a NUL) but that
         * do not name task_struct: the guest hides its own kernel's BTF, and
         * the host's work stays bounded: VMI_BTF_MAX_LOOK looked at, reads
         * within VMI_BTF_MAX_READ_BYTES, no parse. */
        memset(img, 0, 56 * MIB);
        for (size_t at = 0; at + MIB <= 56 * MIB; at += 64 * 1024) {
                uint32_t type_len = 12, str_len = MIB - 64 * 1024;
                put_fake_header(img, at, type_len, str_len);
                uint32_t first[3] = { 0, 1u << 24, 4 };   /* an anonymous int */
                memcpy(img + at + 24, first, sizeof first);
        }
        assert_int_equal(vmi_btf_locate(m, &found, &gpa, &found_size, &st), -ENOENT);
        assert_int_equal(st.looked, VMI_BTF_MAX_LOOK);
        assert_int_equal(st.no_task_struct, VMI_BTF_MAX_LOOK);
        assert_true(st.read_bytes <= VMI_BTF_MAX_READ_BYTES);
        assert_int_equal(st.parsed, 0);

        /* ... and if they all name task_struct, at most VMI_BTF_MAX_PARSES
         * are parsed, then the search stops and says so. */
        for (size_t at = 0; at + MIB <= 56 * MIB; at += 64 * 1024)
                memcpy(img + at + 24 + 12 + 1, "task_struct", 12);
        assert_int_equal(vmi_btf_locate(m, &found, &gpa, &found_size, &st), -ENOENT);
        assert_int_equal(st.parsed, VMI_BTF_MAX_PARSES);
        assert_true(st.over_budget);
        Vmi *v = NULL;
        assert_int_equal(vmi_attach(m, NULL, &v), -ENOENT);
        assert_non_null(strstr(vmi_last_error(NULL), "bound reached"));
        vmi_mem_free(m);
        btf__free(kb);
        free(img);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kernel_among_modules),
                cmocka_unit_test(test_split_cheap),
                cmocka_unit_test(test_attach_stock_like),
                cmocka_unit_test(test_hostile_headers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
