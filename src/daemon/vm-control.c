/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stddef.h>

#include "daemon/vm-control.h"
#include "hv/hv-libvirt-agent.h"
#include "view/pause-hook.h"
#include "view/qga-client.h"

static HvOptions with_uri(const GuestPause *p, void *userdata) {
        const HvOptions *hv = userdata;
        HvOptions o = *hv;
        o.libvirt_uri = p->libvirt_uri;
        return o;
}

static int vc_run_state(const GuestPause *p, char **ret_state, void *userdata) {
        if (!p->uuid)
                return -EOPNOTSUPP;
        HvOptions o = with_uri(p, userdata);
        return hv_libvirt_run_state(&o, p->uuid, ret_state);
}

static int vc_pause(const GuestPause *p, void *userdata) {
        if (!p->uuid)
                return -EOPNOTSUPP;
        HvOptions o = with_uri(p, userdata);
        return hv_libvirt_suspend(&o, p->uuid);
}

static int vc_resume(const GuestPause *p, int deadline_ms, char **ret_state, void *userdata) {
        if (!p->uuid)
                return -EOPNOTSUPP;
        HvOptions o = with_uri(p, userdata);
        return hv_libvirt_resume_confirmed(&o, p->uuid, deadline_ms, ret_state);
}

static int vc_hmp(const GuestPause *p, const char *command, char **ret, void *userdata) {
        if (!p->uuid)
                return -EOPNOTSUPP;
        HvOptions o = with_uri(p, userdata);
        return hv_libvirt_hmp(&o, p->uuid, command, ret);
}

void vm_control_install(const HvOptions *hv) {
        if (!hv) {
                guest_vm_ops_set(NULL);
                qga_command_hook_set(NULL);
                return;
        }
        /* qemu-guest-agent of libvirt domains: through libvirt too (the qga view). */
        QgaCommandHook qga = { .open = hv_libvirt_agent_open, .command = hv_libvirt_agent_command,
                               .close = hv_libvirt_agent_close, .userdata = (void *) hv->libvirt_uri };
        qga_command_hook_set(&qga);
        GuestVmOps ops = { .run_state = vc_run_state, .pause = vc_pause, .resume = vc_resume, .hmp = vc_hmp,
                           .userdata = (void *) hv };
        guest_vm_ops_set(&ops);
}
