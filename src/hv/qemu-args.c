/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "hv/qemu-args.h"

/* Split off the next element of an option string, undoing ",," escapes. */
static const char *next_elem(const char *p, char **ret) {
        size_t cap = strlen(p) + 1, n = 0;
        char *out = malloc(cap);
        if (!out)
                return NULL;
        while (*p) {
                if (*p == ',') {
                        if (p[1] == ',') {
                                out[n++] = ',';
                                p += 2;
                                continue;
                        }
                        p++;
                        break;
                }
                out[n++] = *p++;
        }
        out[n] = 0;
        *ret = out;
        return p;
}

char *qemu_opt_get(const char *opts, const char *key) {
        const char *p = opts;
        bool first = true;
        while (p && *p) {
                char *elem = NULL;
                p = next_elem(p, &elem);
                if (!p)
                        return NULL;
                char *eq = strchr(elem, '=');
                if (!key) {
                        if (first && !eq)
                                return elem;
                        free(elem);
                        errno = ENOENT;
                        return NULL;
                }
                if (eq) {
                        *eq = 0;
                        if (streq(elem, key)) {
                                char *v = strdup(eq + 1);
                                free(elem);
                                return v;
                        }
                }
                free(elem);
                first = false;
        }
        errno = ENOENT;
        return NULL;
}

void qemu_args_done(QemuArgs *a) {
        free(a->name);
        free(a->qmp_socket);
        free(a->agent_socket);
        free(a->qga_socket);
        *a = (QemuArgs) {};
}

/* "-opt value", "--opt value", "-opt=value". */
static const char *option_value(char *const *argv, size_t argc, size_t *i, const char *opt) {
        const char *a = argv[*i];
        if (a[0] != '-')
                return NULL;
        a += a[1] == '-' ? 2 : 1;
        size_t n = strlen(opt);
        if (!strneq(a, opt, n))
                return NULL;
        if (a[n] == '=')
                return a + n + 1;
        if (a[n] == 0 && *i + 1 < argc) {
                (*i)++;
                return argv[*i];
        }
        return NULL;
}

/* Path of a UNIX socket chardev: "unix:PATH,server=on" or "unix:path=PATH". */
static char *unix_path(const char *spec) {
        if (!strneq(spec, "unix:", 5))
                return NULL;
        char *first = NULL;
        if (!next_elem(spec + 5, &first))
                return NULL;
        if (strneq(first, "path=", 5)) {
                char *p = strdup(first + 5);
                free(first);
                return p;
        }
        return first;
}

int qemu_args_parse(char *const *argv, size_t argc, QemuArgs *ret) {
        QemuArgs a = {};
        /* chardev ids seen with their socket paths, and which id is the QMP
         * monitor / the agent port; resolved after the scan since the order
         * of options is free. */
        char *mon_chardev = NULL, *agent_chardev = NULL, *qga_chardev = NULL;
        struct { char *id, *path; } chardevs[64];
        size_t n_chardevs = 0;
        int r = 0;

        for (size_t i = 1; i < argc; i++) {
                const char *v;
                if ((v = option_value(argv, argc, &i, "name"))) {
                        char *name = qemu_opt_get(v, "guest");
                        if (!name)
                                name = qemu_opt_get(v, NULL);
                        if (name && *name) {
                                free(a.name);
                                a.name = name;
                        } else
                                free(name);
                } else if ((v = option_value(argv, argc, &i, "qmp")) ||
                           (v = option_value(argv, argc, &i, "qmp-pretty"))) {
                        char *p = unix_path(v);
                        if (p && !a.qmp_socket)
                                a.qmp_socket = p;
                        else
                                free(p);
                } else if ((v = option_value(argv, argc, &i, "chardev"))) {
                        _cleanup_free_ char *backend = qemu_opt_get(v, NULL);
                        if (!backend || !streq(backend, "socket") || n_chardevs >= ELEMENTSOF(chardevs))
                                continue;
                        char *id = qemu_opt_get(v, "id"), *path = qemu_opt_get(v, "path");
                        if (id && path) {
                                chardevs[n_chardevs].id = id;
                                chardevs[n_chardevs++].path = path;
                        } else {
                                free(id);
                                free(path);
                        }
                } else if ((v = option_value(argv, argc, &i, "mon"))) {
                        _cleanup_free_ char *mode = qemu_opt_get(v, "mode");
                        if (mode && streq(mode, "control") && !mon_chardev)
                                mon_chardev = qemu_opt_get(v, "chardev");
                } else if ((v = option_value(argv, argc, &i, "device"))) {
                        _cleanup_free_ char *driver = qemu_opt_get(v, NULL);
                        _cleanup_free_ char *name = qemu_opt_get(v, "name");
                        if (driver && streq(driver, "virtserialport") && name &&
                            streq(name, XVSCHED_AGENT_PORT_NAME) && !agent_chardev)
                                agent_chardev = qemu_opt_get(v, "chardev");
                        else if (driver && streq(driver, "virtserialport") && name &&
                                 streq(name, QEMU_GUEST_AGENT_PORT_NAME) && !qga_chardev)
                                qga_chardev = qemu_opt_get(v, "chardev");
                }
        }

        for (size_t k = 0; k < n_chardevs; k++) {
                if (mon_chardev && !a.qmp_socket && streq(chardevs[k].id, mon_chardev))
                        a.qmp_socket = strdup(chardevs[k].path);
                if (agent_chardev && !a.agent_socket && streq(chardevs[k].id, agent_chardev))
                        a.agent_socket = strdup(chardevs[k].path);
                if (qga_chardev && !a.qga_socket && streq(chardevs[k].id, qga_chardev))
                        a.qga_socket = strdup(chardevs[k].path);
                free(chardevs[k].id);
                free(chardevs[k].path);
        }
        free(mon_chardev);
        free(agent_chardev);
        free(qga_chardev);
        *ret = a;
        return r;
}
