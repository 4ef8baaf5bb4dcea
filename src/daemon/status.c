/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's status: one JSON object per tick (the control socket's
 * "status" and the timeline's lines). */

#include <math.h>
#include <stdio.h>

#include "daemon/daemon-internal.h"

/* ---- timeline ---- */

static const char *task_state(const Daemon *d, size_t t) {
        const TaskObs *o = &d->snap.tasks[t];
        const TaskState *s = &d->state.tasks[t];
        if (!o->present)
                return "absent";
        if (d->tasks[t].n_stopped > 0 || o->stopped)
                return "stopped";
        if (s->cpu_frac >= d->rules.busy_threshold)
                return "running";
        if (o->runnable)
                return "runnable";
        return "sleeping";
}

json_object *daemon_status_json(const Daemon *d) {
        json_object *o = json_object_new_object();
        /* many hosts: each loop's status, its tasks and domains say their host */
        if (d->host)
                json_object_object_add(o, "host", json_object_new_string(d->host));
        json_object_object_add(o, "tick", json_object_new_int64((int64_t) d->state.tick));
        json_object_object_add(o, "t_ms", json_object_new_int64((int64_t) ((d->snap.t_ns - d->t0_ns) / 1000000)));
        json_object_object_add(o, "interval_ms", json_object_new_int((int) d->rules.interval_ms));
        json_object *tasks = json_object_new_array();
        for (size_t t = 0; t < d->rules.n_tasks; t++) {
                const TaskRule *tr = &d->rules.tasks[t];
                json_object *to = json_object_new_object();
                json_object_object_add(to, "task", json_object_new_string(tr->name));
                if (d->host)
                        json_object_object_add(to, "host", json_object_new_string(d->host));
                json_object_object_add(to, "domain", json_object_new_string(d->rules.domains[tr->domain].name));
                json_object_object_add(to, "class", json_object_new_string(task_class_to_string(tr->class)));
                json_object_object_add(to, "priority", json_object_new_int(tr->priority));
                json_object_object_add(to, "state", json_object_new_string(task_state(d, t)));
                json_object_object_add(to, "busy", json_object_new_boolean(d->state.tasks[t].busy));
                json_object_object_add(to, "cpu_pct", json_object_new_double(round(d->state.tasks[t].cpu_frac * 1000) / 10));
                if (tr->share_pct > 0) {
                        json_object_object_add(to, "target_share_pct", json_object_new_double(tr->share_pct));
                        json_object_object_add(to, "share_pct",
                                               json_object_new_double(round(d->state.tasks[t].share_ewma * 1000) / 10));
                }
                json_object_object_add(to, "stopped_by_xvsched", json_object_new_boolean(d->tasks[t].n_stopped > 0));
                json_object_object_add(to, "nice", d->tasks[t].nice_set ? json_object_new_int(d->tasks[t].nice) : NULL);
                json_object_object_add(to, "why", json_object_new_string(d->plan.tasks[t].why ? d->plan.tasks[t].why : ""));
                json_object *pids = json_object_new_array();
                for (size_t p = 0; p < d->tasks[t].n_pids; p++)
                        json_object_array_add(pids, json_object_new_int(d->tasks[t].pids[p]));
                json_object_object_add(to, "pids", pids);
                json_object_array_add(tasks, to);
        }
        json_object_object_add(o, "tasks", tasks);
        json_object *doms = json_object_new_array();
        for (size_t i = 0; i < d->rules.n_domains; i++) {
                const DomainRt *dr = &d->doms[i];
                json_object *dobj = json_object_new_object();
                json_object_object_add(dobj, "domain", json_object_new_string(d->rules.domains[i].name));
                if (d->host)
                        json_object_object_add(dobj, "host", json_object_new_string(d->host));
                json_object_object_add(dobj, "present", json_object_new_boolean(dr->domain != NULL));
                /* The discovered domain this rule's domain matched (xvsched top). */
                json_object_object_add(dobj, "matched", dr->domain ? json_object_new_string(dr->domain->name) : NULL);
                json_object_object_add(dobj, "vcpu_pct", json_object_new_double(round(dr->vcpu_frac * 1000) / 10));
                json_object_object_add(dobj, "fresh", json_object_new_boolean(d->snap.domains[i].fresh));
                json_object_object_add(dobj, "view", dr->view_ok ? json_object_new_string(dr->view_name) : NULL);
                json_object_object_add(dobj, "control_path", dr->view_ok ? json_object_new_string(dr->control_path) : NULL);
                if (dr->view_error[0])
                        json_object_object_add(dobj, "view_error", json_object_new_string(dr->view_error));
                if (!dr->view_ok && dr->view_retry_at_ns) {
                        uint64_t now = now_nsec();
                        json_object_object_add(dobj, "view_retry_in_ms",
                                               json_object_new_int64(dr->view_retry_at_ns > now
                                                                             ? (int64_t) ((dr->view_retry_at_ns - now) / 1000000)
                                                                             : 0));
                }
                json_object_object_add(dobj, "weight", json_object_new_int((int) d->plan.domains[i].weight));
                json_object_object_add(dobj, "rt", json_object_new_boolean(d->plan.domains[i].rt));
                json_object_object_add(dobj, "rt_budget_spent", json_object_new_boolean(d->plan.domains[i].rt_budget_spent));
                json_object_object_add(dobj, "vcpu_idle", json_object_new_boolean(dr->vcpu_idle));
                json_object_object_add(dobj, "steal_scale", json_object_new_double(round(d->state.domains[i].steal_scale * 1000) / 1000));
                json_object_array_add(doms, dobj);
        }
        json_object_object_add(o, "domains", doms);
        json_object *cost = json_object_new_object();
        json_object_object_add(cost, "observe_us", json_object_new_double(round(d->cost_observe_us)));
        json_object_object_add(cost, "decide_us", json_object_new_double(round(d->cost_decide_us * 10) / 10));
        json_object_object_add(cost, "act_us", json_object_new_double(round(d->cost_act_us)));
        json_object_object_add(o, "cost", cost);
        return o;
}

void daemon_write_timeline(Daemon *d) {
        if (!d->timeline)
                return;
        json_object *o = daemon_status_json(d);
        fprintf(d->timeline, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        fflush(d->timeline);
        json_object_put(o);
}
