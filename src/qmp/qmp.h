/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A small QMP client: JSON lines over a UNIX socket, one C function per
 * command (build → send → check the reply type → extract fields).
 *
 * Every call is bounded: each reply must arrive within the client's timeout
 * and be at most QMP_MAX_LINE bytes; asynchronous events are skipped (at most
 * QMP_MAX_EVENTS per reply).  Errors: -errno;
 *   -ETIMEDOUT  no (complete) reply in time
 *   -EPROTO     the peer sent something that is not a QMP reply to us
 *   -EMSGSIZE   a line longer than QMP_MAX_LINE
 *   -EREMOTEIO  QEMU answered with an error; qmp_last_error() has its class and desc
 *   -ECONNRESET the socket closed
 * After -ETIMEDOUT/-EPROTO/-EMSGSIZE/-ECONNRESET the client is unusable:
 * free it and connect again. */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define QMP_MAX_LINE (4u << 20)
#define QMP_MAX_EVENTS 1024
#define QMP_DEFAULT_TIMEOUT_MS 5000

typedef struct QmpClient QmpClient;

/* Connect to a QMP socket, read the greeting, negotiate capabilities. */
int qmp_connect(const char *path, int timeout_ms, QmpClient **ret);
/* The same on an already connected fd (taken over, closed by qmp_free). */
int qmp_connect_fd(int fd, int timeout_ms, QmpClient **ret);
void qmp_free(QmpClient *q);
/* The pid of the process at the other end (SO_PEERCRED: the one that made
 * the listening socket). */
int qmp_peer_pid(const QmpClient *q, pid_t *ret);
static inline void qmp_freep(QmpClient **q) {
        qmp_free(*q);
}

/* The version QEMU announced in its greeting ("7.2.22"). */
const char *qmp_version(const QmpClient *q);
const char *qmp_last_error(const QmpClient *q);

/* Run a command.  args is consumed (may be NULL).  On success *ret_return
 * (if non-NULL) gets the "return" member, to be json_object_put() by the caller. */
int qmp_execute(QmpClient *q, const char *command, json_object *args, json_object **ret_return);

typedef struct QmpCpu {
        int index;        /* cpu-index */
        pid_t thread_id;  /* host thread of this vCPU */
} QmpCpu;

int qmp_query_cpus_fast(QmpClient *q, QmpCpu **ret, size_t *ret_n);
int qmp_query_iothreads(QmpClient *q, pid_t **ret, size_t *ret_n);
int qmp_query_name(QmpClient *q, char **ret);   /* -ENODATA when the VM has no name */
int qmp_query_status(QmpClient *q, bool *ret_running, char **ret_status);
int qmp_stop(QmpClient *q);
int qmp_cont(QmpClient *q);
/* human-monitor-command: returns HMP's text output. */
int qmp_hmp(QmpClient *q, const char *command_line, char **ret_output);
