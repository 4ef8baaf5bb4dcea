/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include "view/pause-hook.h"

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static GuestPauseHook hook;

void guest_pause_hook_set(const GuestPauseHook *h) {
        pthread_mutex_lock(&hook_lock);
        hook = h ? *h : (GuestPauseHook) {};
        pthread_mutex_unlock(&hook_lock);
}

static GuestPauseHook hook_get(void) {
        pthread_mutex_lock(&hook_lock);
        GuestPauseHook h = hook;
        pthread_mutex_unlock(&hook_lock);
        return h;
}

int guest_pause_before(const GuestPause *p) {
        GuestPauseHook h = hook_get();
        return h.before ? h.before(p, h.userdata) : 0;
}

void guest_pause_after(const GuestPause *p) {
        GuestPauseHook h = hook_get();
        if (h.after)
                h.after(p, h.userdata);
}

int guest_pause_adopt(const GuestPause *p) {
        GuestPauseHook h = hook_get();
        return h.adopt ? h.adopt(p, h.userdata) : 0;
}

void guest_pause_release(const GuestPause *p) {
        GuestPauseHook h = hook_get();
        if (h.release)
                h.release(p, h.userdata);
}

int guest_pause_kcall(const GuestPause *p, const GuestKcall *k) {
        GuestPauseHook h = hook_get();
        return h.kcall ? h.kcall(p, k, h.userdata) : 0;
}

static GuestVmOps vm_ops;

void guest_vm_ops_set(const GuestVmOps *ops) {
        pthread_mutex_lock(&hook_lock);
        vm_ops = ops ? *ops : (GuestVmOps) {};
        pthread_mutex_unlock(&hook_lock);
}

static GuestVmOps vm_ops_get(void) {
        pthread_mutex_lock(&hook_lock);
        GuestVmOps o = vm_ops;
        pthread_mutex_unlock(&hook_lock);
        return o;
}

bool guest_vm_can_pause(const GuestPause *p) {
        GuestVmOps o = vm_ops_get();
        return p && p->uuid && o.pause && o.resume && o.run_state;
}

int guest_vm_run_state(const GuestPause *p, char **ret_state) {
        GuestVmOps o = vm_ops_get();
        return o.run_state ? o.run_state(p, ret_state, o.userdata) : -EOPNOTSUPP;
}

int guest_vm_pause(const GuestPause *p) {
        GuestVmOps o = vm_ops_get();
        return o.pause ? o.pause(p, o.userdata) : -EOPNOTSUPP;
}

int guest_vm_resume(const GuestPause *p, int deadline_ms, char **ret_state) {
        GuestVmOps o = vm_ops_get();
        return o.resume ? o.resume(p, deadline_ms, ret_state, o.userdata) : -EOPNOTSUPP;
}

int guest_vm_hmp(const GuestPause *p, const char *command, char **ret) {
        GuestVmOps o = vm_ops_get();
        return o.hmp ? o.hmp(p, command, ret, o.userdata) : -EOPNOTSUPP;
}
