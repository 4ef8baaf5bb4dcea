/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Domain model and QEMU command-line parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "hv/hv.h"
#include "hv/qemu-args.h"
#include "model/domain.h"

static void test_vcpu_comm(void **state) {
        (void) state;
        assert_int_equal(vcpu_index_from_comm("CPU 0/TCG"), 0);
        assert_int_equal(vcpu_index_from_comm("CPU 12/KVM"), 12);
        assert_int_equal(vcpu_index_from_comm("CPU 1/KVMx"), -1);
        assert_int_equal(vcpu_index_from_comm("CPU x/KVM"), -1);
        assert_int_equal(vcpu_index_from_comm("qemu-system-x86"), -1);
        assert_int_equal(vcpu_index_from_comm("CPU 1/"), -1);
}

static void test_opt_get(void **state) {
        (void) state;
        char *v = qemu_opt_get("socket,id=a,,b,path=/x", "id");
        assert_string_equal(v, "a,b");
        free(v);
        v = qemu_opt_get("socket,id=a,path=/x", NULL);
        assert_string_equal(v, "socket");
        free(v);
        assert_null(qemu_opt_get("id=a", NULL));
        assert_null(qemu_opt_get("socket,id=a", "path"));
}

static void test_args_raw(void **state) {
        (void) state;
        char *argv[] = { "/usr/bin/qemu-system-x86_64", "-name", "web,debug-threads=on", "-m", "128",
                         "-qmp", "unix:/run/x/web.qmp,server=on,wait=off",
                         "-device", "virtio-serial",
                         "-chardev", "socket,id=xvagent,path=/run/x/web.agent,server=on,wait=off",
                         "-device", "virtserialport,chardev=xvagent,name=org.xvsched.agent.0" };
        QemuArgs a;
        assert_int_equal(qemu_args_parse(argv, sizeof argv / sizeof argv[0], &a), 0);
        assert_string_equal(a.name, "web");
        assert_string_equal(a.qmp_socket, "/run/x/web.qmp");
        assert_string_equal(a.agent_socket, "/run/x/web.agent");
        qemu_args_done(&a);
}

static void test_args_libvirt_style(void **state) {
        (void) state;
        /* libvirt: guest=NAME, monitor over a chardev + -mon, options after the
         * chardev they name or before it. */
        char *argv[] = { "qemu-system-x86_64", "-mon", "chardev=charmonitor,id=monitor,mode=control",
                         "-name", "guest=db,debug-threads=on",
                         "-chardev", "socket,id=charmonitor,path=/var/lib/libvirt/qemu/domain-1-db/monitor.sock,server=on,wait=off",
                         "-device", "virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel0,id=channel0,name=org.xvsched.agent.0",
                         "-chardev", "socket,id=charchannel0,path=/var/lib/libvirt/qemu/channel/target/domain-1-db/org.xvsched.agent.0,server=on,wait=off" };
        QemuArgs a;
        assert_int_equal(qemu_args_parse(argv, sizeof argv / sizeof argv[0], &a), 0);
        assert_string_equal(a.name, "db");
        assert_string_equal(a.qmp_socket, "/var/lib/libvirt/qemu/domain-1-db/monitor.sock");
        assert_string_equal(a.agent_socket, "/var/lib/libvirt/qemu/channel/target/domain-1-db/org.xvsched.agent.0");
        qemu_args_done(&a);
}

static void test_args_none(void **state) {
        (void) state;
        char *argv[] = { "qemu-system-x86_64", "-m", "64", "-name" };  /* dangling -name */
        QemuArgs a;
        assert_int_equal(qemu_args_parse(argv, 4, &a), 0);
        assert_null(a.name);
        assert_null(a.qmp_socket);
        assert_null(a.agent_socket);
        qemu_args_done(&a);
}

static void test_set_vcpu_tids(void **state) {
        (void) state;
        Domain *d = domain_new("x", "qmp");
        domain_add_thread(d, 10, THREAD_EMULATOR, -1, "qemu-system-x86");
        domain_add_thread(d, 11, THREAD_VCPU, 0, "CPU 0/TCG");
        domain_add_thread(d, 12, THREAD_VCPU, 1, "CPU 1/TCG");
        domain_add_thread(d, 13, THREAD_EMULATOR, -1, "qemu-system-x86");
        pid_t tids[] = { 11, 12 };
        assert_int_equal(domain_set_vcpu_tids(d, tids, 2), 0);
        assert_int_equal(domain_count_class(d, THREAD_VCPU), 2);
        /* QMP says vCPU 0 is 13: thread 11, named "CPU 0/TCG", is not a vCPU after all. */
        pid_t other[] = { 13, 12 };
        assert_int_equal(domain_set_vcpu_tids(d, other, 2), 1);
        assert_int_equal(d->threads[3].class, THREAD_VCPU);
        assert_int_equal(d->threads[3].vcpu, 0);
        assert_int_equal(d->threads[1].class, THREAD_EMULATOR);
        domain_free(d);
}

static void test_scan_self(void **state) {
        (void) state;
        Domain *d = domain_new("self", "local");
        d->pid = getpid();
        assert_int_equal(hv_scan_threads("/proc", d), 0);
        assert_true(d->n_threads >= 1);
        assert_int_equal(d->threads[0].tid, getpid());
        assert_int_equal(d->threads[0].class, THREAD_EMULATOR);
        d->pid = 0x7ffffff0;
        assert_int_equal(hv_scan_threads("/proc", d), -ESRCH);
        domain_free(d);
}

static void test_local_spec(void **state) {
        (void) state;
        char *n, *k, *a;
        assert_int_equal(hv_local_spec_parse("web=cgroup:/machine/web", &n, &k, &a, NULL), 0);
        assert_string_equal(n, "web");
        assert_string_equal(k, "cgroup");
        assert_string_equal(a, "/machine/web");
        free(n), free(k), free(a);
        char *ag;
        assert_int_equal(hv_local_spec_parse("db=pid:123", &n, &k, &a, &ag), 0);
        assert_string_equal(a, "123");
        assert_null(ag);
        free(n), free(k), free(a);
        assert_int_equal(hv_local_spec_parse("db=pid:123,agent=/run/a.sock", &n, &k, &a, &ag), 0);
        assert_string_equal(a, "123");
        assert_string_equal(ag, "/run/a.sock");
        free(n), free(k), free(a), free(ag);
        assert_int_equal(hv_local_spec_parse("db=pid:123,agent=rel.sock", &n, &k, &a, &ag), -EINVAL);
        assert_int_equal(hv_local_spec_parse("db=pid:12x", &n, &k, &a, NULL), -EINVAL);
        assert_int_equal(hv_local_spec_parse("=pid:1", &n, &k, &a, NULL), -EINVAL);
        assert_int_equal(hv_local_spec_parse("x=cgroup:rel", &n, &k, &a, NULL), -EINVAL);
        assert_int_equal(hv_local_spec_parse("x=cgroup:/a/../b", &n, &k, &a, NULL), -EINVAL);
        assert_int_equal(hv_local_spec_parse("x=file:/a", &n, &k, &a, NULL), -EINVAL);
        assert_int_equal(hv_local_spec_parse("x", &n, &k, &a, NULL), -EINVAL);
}

static void test_list(void **state) {
        (void) state;
        DomainList l = {};
        assert_int_equal(domain_list_add(&l, domain_new("a", "qmp")), 0);
        assert_int_equal(domain_list_add(&l, domain_new("b", "qmp")), 0);
        assert_non_null(domain_list_find(&l, "b"));
        assert_null(domain_list_find(&l, "c"));
        assert_int_equal(thread_class_from_string("io"), THREAD_IO);
        assert_int_equal(thread_class_from_string("nope"), _THREAD_CLASS_INVALID);
        domain_list_done(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vcpu_comm),      cmocka_unit_test(test_opt_get),
                cmocka_unit_test(test_args_raw),       cmocka_unit_test(test_args_libvirt_style),
                cmocka_unit_test(test_args_none),      cmocka_unit_test(test_set_vcpu_tids),
                cmocka_unit_test(test_scan_self),      cmocka_unit_test(test_local_spec),
                cmocka_unit_test(test_list),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
