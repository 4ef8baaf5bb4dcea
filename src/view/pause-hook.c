/* SPDX-License-Identifier: GPL-2.0-or-later */
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
