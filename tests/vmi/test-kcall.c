/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pure parts of agentless guest kernel calls: the GDB remote packet
 * codec, stop replies, and the exported-symbol table search. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/time-util.h"
#include "qmp/gdb-remote.h"
#include "vmi/kcall.h"

static void test_encode(void **state) {
        (void) state;
        char out[64];
        int n = gdb_packet_encode("g", out, sizeof out);
        assert_int_equal(n, 5);
        assert_string_equal(out, "$g#67");
        /* '#', '$', '}' and '*' are escaped (} then c ^ 0x20) */
        n = gdb_packet_encode("a#b*", out, sizeof out);
        assert_true(n > 0);
        assert_memory_equal(out, "$a}\x03" "b}\x0a#", 8);
        assert_int_equal(gdb_packet_encode("0123456789", out, 8), -ENOBUFS);
}

static void test_decode(void **state) {
        (void) state;
        char out[64];
        size_t used = 0;
        /* acks and noise before the packet are consumed with it */
        const char *in = "+$OK#9aXYZ";
        assert_int_equal(gdb_packet_decode(in, strlen(in), out, sizeof out, &used), 1);
        assert_string_equal(out, "OK");
        assert_int_equal(used, 7);
        /* incomplete: no '#', or no checksum digits yet */
        assert_int_equal(gdb_packet_decode("$OK", 3, out, sizeof out, &used), 0);
        assert_int_equal(gdb_packet_decode("$OK#9", 5, out, sizeof out, &used), 0);
        assert_int_equal(gdb_packet_decode("+++", 3, out, sizeof out, &used), 0);
        /* a wrong checksum, a bad checksum digit */
        assert_int_equal(gdb_packet_decode("$OK#9b", 6, out, sizeof out, &used), -EBADMSG);
        assert_int_equal(gdb_packet_decode("$OK#zz", 6, out, sizeof out, &used), -EBADMSG);
        /* round trip of escapes */
        char pkt[64];
        int n = gdb_packet_encode("x}y$z#*", pkt, sizeof pkt);
        assert_int_equal(gdb_packet_decode(pkt, (size_t) n, out, sizeof out, &used), 1);
        assert_string_equal(out, "x}y$z#*");
        /* run length: "0* " is '0' and 3 more (' ' = 32 = 29 + 3) */
        char rle[32];
        unsigned sum = '0' + '*' + ' ';
        snprintf(rle, sizeof rle, "$0* #%02x", sum & 0xff);
        assert_int_equal(gdb_packet_decode(rle, strlen(rle), out, sizeof out, &used), 1);
        assert_string_equal(out, "0000");
        /* run length first, or one that does not fit: refused */
        sum = '*' + ' ';
        snprintf(rle, sizeof rle, "$* #%02x", sum & 0xff);
        assert_int_equal(gdb_packet_decode(rle, strlen(rle), out, sizeof out, &used), -EBADMSG);
        sum = '0' + '*' + '~';
        snprintf(rle, sizeof rle, "$0*~#%02x", sum & 0xff);
        assert_int_equal(gdb_packet_decode(rle, strlen(rle), out, 8, &used), -EMSGSIZE);
        /* a payload longer than the output */
        n = gdb_packet_encode("0123456789", pkt, sizeof pkt);
        assert_int_equal(gdb_packet_decode(pkt, (size_t) n, out, 8, &used), -EMSGSIZE);
}

static void test_stop(void **state) {
        (void) state;
        GdbStop s;
        assert_int_equal(gdb_parse_stop("T05thread:02;", &s), 0);
        assert_int_equal(s.kind, 'T');
        assert_int_equal(s.signal, 5);
        assert_int_equal(s.thread, 2);
        assert_int_equal(gdb_parse_stop("T02thread:p1.1f;", &s), 0);
        assert_int_equal(s.thread, 0x1f);
        assert_int_equal(gdb_parse_stop("S05", &s), 0);
        assert_int_equal(s.thread, 0);
        assert_int_equal(gdb_parse_stop("W00", &s), 0);
        assert_int_equal(s.kind, 'W');
        assert_int_equal(gdb_parse_stop("OK", &s), -EBADMSG);
        assert_int_equal(gdb_parse_stop("T5", &s), -EBADMSG);
        assert_int_equal(gdb_parse_stop("T05thread:;", &s), -EBADMSG);
        assert_int_equal(gdb_parse_stop("T05thread:123456789;", &s), -EBADMSG);
        assert_int_equal(gdb_parse_stop("", &s), -EBADMSG);
}

static void test_hex(void **state) {
        (void) state;
        uint8_t b[4];
        char h[9];
        assert_int_equal(gdb_hex_decode("deadBEEF", 8, b, 4), 0);
        assert_int_equal(b[0], 0xde);
        assert_int_equal(b[3], 0xef);
        gdb_hex_encode(b, 4, h);
        assert_string_equal(h, "deadbeef");
        assert_int_equal(gdb_hex_decode("dead", 4, b, 4), -EBADMSG);
        assert_int_equal(gdb_hex_decode("dexd", 4, b, 2), -EBADMSG);
}

/* A fake kernel image: strings, a ksymtab of PREL32 entries. */
#define BASE UINT64_C(0xffffffff82000000)
static void put_entry(uint8_t *img, size_t at, uint64_t value, uint64_t name) {
        int32_t v = (int32_t) (int64_t) (value - (BASE + at));
        int32_t n = (int32_t) (int64_t) (name - (BASE + at + 4));
        memcpy(img + at, &v, 4);
        memcpy(img + at + 4, &n, 4);
        memset(img + at + 8, 0, 4);
}

static void test_ksymtab(void **state) {
        (void) state;
        size_t len = 1 << 16;
        uint8_t *img = calloc(1, len);
        assert_non_null(img);
        /* strings at 0x8000 */
        const char strs[] = "\0send_sig\0set_user_nice\0";
        memcpy(img + 0x8000, strs, sizeof strs);
        uint64_t send_sig_name = BASE + 0x8001, nice_name = BASE + 0x800a;
        uint64_t text_lo = UINT64_C(0xffffffff81000000);
        put_entry(img, 0x4000, UINT64_C(0xffffffff814b5670), send_sig_name);
        put_entry(img, 0x400c, UINT64_C(0xffffffff814dd8e0), nice_name);
        uint64_t a = 0;
        assert_int_equal(vmi_ksymtab_find(img, len, BASE, send_sig_name, text_lo, BASE, &a), 0);
        assert_true(a == UINT64_C(0xffffffff814b5670));
        assert_int_equal(vmi_ksymtab_find(img, len, BASE, nice_name, text_lo, BASE, &a), 0);
        assert_true(a == UINT64_C(0xffffffff814dd8e0));
        /* a name nothing points at */
        assert_int_equal(vmi_ksymtab_find(img, len, BASE, BASE + 0x8003, text_lo, BASE, &a), -ENOENT);
        /* an entry whose value is outside the text: not taken */
        put_entry(img, 0x5000, BASE + 0x100, BASE + 0x8003);
        assert_int_equal(vmi_ksymtab_find(img, len, BASE, BASE + 0x8003, text_lo, BASE, &a), -ENOENT);
        /* a lying guest: a second entry for send_sig with another value */
        put_entry(img, 0x6000, UINT64_C(0xffffffff81000000), send_sig_name);
        assert_int_equal(vmi_ksymtab_find(img, len, BASE, send_sig_name, text_lo, BASE, &a), -ENOTUNIQ);
        /* too small, misaligned */
        assert_int_equal(vmi_ksymtab_find(img, 8, BASE, send_sig_name, text_lo, BASE, &a), -EINVAL);
        assert_int_equal(vmi_ksymtab_find(img, len, BASE + 1, send_sig_name, text_lo, BASE, &a), -EINVAL);
        free(img);
}

/* A scripted stub: accepts one connection, reads one packet, acks it and
 * writes `reply` raw (NULL: says nothing, holds the connection a while). */
typedef struct Stub {
        char path[108];
        int lfd;
        const char *reply;
        size_t reply_len;
        pthread_t th;
} Stub;

static void *stub_main(void *u) {
        Stub *s = u;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
                return NULL;
        char buf[256];
        size_t n = 0;
        while (n < sizeof buf && !memchr(buf, '#', n)) {
                ssize_t k = read(fd, buf + n, sizeof buf - n);
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        /* MSG_NOSIGNAL: a client that gave up (the endless-packet and
         * timeout cases) may have closed already; EPIPE, not SIGPIPE. */
        (void) send(fd, "+", 1, MSG_NOSIGNAL);
        if (s->reply) {
                size_t off = 0;
                while (off < s->reply_len) {
                        ssize_t k = send(fd, s->reply + off, s->reply_len - off, MSG_NOSIGNAL);
                        if (k <= 0)
                                break;
                        off += (size_t) k;
                }
        }
        /* hold the connection until the client hangs up */
        while (read(fd, buf, sizeof buf) > 0) {
        }
        close(fd);
        return NULL;
}

static void stub_start(Stub *s, const char *reply, size_t len) {
        memset(s, 0, sizeof *s);
        snprintf(s->path, sizeof s->path, "/tmp/test-kcall-%d-%p.sock", (int) getpid(), (void *) s);
        unlink(s->path);
        s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(s->lfd >= 0);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        strcpy(a.sun_path, s->path);
        assert_int_equal(bind(s->lfd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(s->lfd, 1), 0);
        s->reply = reply;
        s->reply_len = len;
        assert_int_equal(pthread_create(&s->th, NULL, stub_main, s), 0);
}

static void stub_stop(Stub *s) {
        pthread_join(s->th, NULL);
        close(s->lfd);
        unlink(s->path);
}

static int one_command(const char *reply, size_t len, char *out, size_t size, uint64_t *ret_ms) {
        Stub s;
        stub_start(&s, reply, len);
        GdbRemote *g = NULL;
        int r = gdb_remote_connect(s.path, 300, &g);
        assert_int_equal(r, 0);
        uint64_t t0 = now_usec();
        r = gdb_remote_command(g, "g", out, size);
        *ret_ms = (now_usec() - t0) / 1000;
        gdb_remote_free(g);
        stub_stop(&s);
        return r;
}

static void test_client(void **state) {
        (void) state;
        char out[64];
        uint64_t ms;
        /* an asynchronous stop reply before the answer is skipped */
        const char *r1 = "$T05thread:01;#07$OK#9a";
        assert_int_equal(one_command(r1, strlen(r1), out, sizeof out, &ms), 0);
        assert_string_equal(out, "OK");
        /* a stub that acks and never answers: bounded by the timeout */
        assert_int_equal(one_command(NULL, 0, out, sizeof out, &ms), -ETIMEDOUT);
        assert_true(ms >= 250 && ms < 1400);
        /* a wrong checksum */
        const char *r2 = "$OK#00";
        assert_int_equal(one_command(r2, strlen(r2), out, sizeof out, &ms), -EBADMSG);
        /* an endless packet: refused at the bound, not buffered for ever */
        size_t big = 3 * GDB_MAX_PACKET;
        char *b = malloc(big);
        assert_non_null(b);
        memset(b, 'a', big);
        b[0] = '$';
        assert_int_equal(one_command(b, big, out, sizeof out, &ms), -EMSGSIZE);
        free(b);
        /* an answer longer than the caller's buffer */
        char r3[32];
        unsigned sum = 0;
        for (int i = 0; i < 10; i++)
                sum += '0';
        snprintf(r3, sizeof r3, "$0000000000#%02x", sum & 0xff);
        assert_int_equal(one_command(r3, strlen(r3), out, 8, &ms), -EMSGSIZE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_encode), cmocka_unit_test(test_decode), cmocka_unit_test(test_stop),
                cmocka_unit_test(test_hex), cmocka_unit_test(test_ksymtab), cmocka_unit_test(test_client),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
