/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "daemon/config.h"
#include "daemon/metrics.h"
#include "lever/lever.h"

typedef enum { SECTION_NONE, SECTION_DAEMON, SECTION_DOMAIN, SECTION_TASK, SECTION_HOSTS } SectionKind;

/* [hosts]: at most this many URIs, each at most this long. */
#define CONFIG_MAX_HOSTS 64
#define CONFIG_MAX_URI 512

typedef struct Parser {
        const char *file;
        unsigned line;
        char *error;
        size_t error_size;
        Rules rules;
        SectionKind section;
        size_t index;              /* current domain or task */
        char seen[32][24];         /* keys seen in the current section */
        size_t n_seen;
        /* [task] "domain = NAME" is resolved after the whole file is read. */
        char **task_domain;
        unsigned *task_domain_line;
        char **rt_when;            /* per domain: task name from rt_when */
        char *metrics;             /* [daemon] metrics (checked) */
        bool agentless_calls;      /* [daemon] agentless_calls (default yes) */
        char **hosts;              /* [hosts] URIs, NULL-terminated */
        unsigned *host_line;
        size_t n_hosts;
        unsigned hosts_line;       /* where [hosts] began (0: none yet) */
} Parser;

static int perr(Parser *p, const char *fmt, ...) _printf_(2, 3);
static int perr(Parser *p, const char *fmt, ...) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(p->error, p->error_size, "%s:%u: %s", p->file, p->line, msg);
        return -EINVAL;
}

static bool valid_name(const char *s) {
        if (!*s || strlen(s) > 64)
                return false;
        for (const char *c = s; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr("._-", *c))
                        return false;
        return true;
}

/* A host as the HOST column spells it (hv_uri_host()): "h1",
 * "127.0.0.1:16509", "[::1]:16509". */
static bool valid_host(const char *s) {
        if (!*s || strlen(s) > 255)
                return false;
        for (const char *c = s; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr("._-:[]", *c))
                        return false;
        return true;
}

/* A domain's name or match, optionally bound to one host: NAME@HOST. */
static bool valid_domain_name(const char *s) {
        const char *at = strchr(s, '@');
        if (!at)
                return valid_name(s);
        char name[65];
        if ((size_t) (at - s) >= sizeof name)
                return false;
        snprintf(name, sizeof name, "%.*s", (int) (at - s), s);
        return valid_name(name) && valid_host(at + 1);
}

/* A libvirt URI, driver[+transport]://[user@][host][:port]/[path][?params]:
 * checked for its form only (libvirt parses it). */
static bool valid_uri(const char *s) {
        const char *sep = strstr(s, "://");
        if (!sep || sep == s || strlen(s) > CONFIG_MAX_URI)
                return false;
        for (const char *c = s; c < sep; c++)
                if (!isalnum((unsigned char) *c) && !strchr("+-_.", *c))
                        return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c <= ' ' || (unsigned char) *c >= 0x7f)
                        return false;
        return true;
}

static int hosts_line(Parser *p, const char *s) {
        if (!valid_uri(s))
                return perr(p, "[hosts]: '%.60s' is not a libvirt URI (expected driver[+transport]://[host][:port]/path, "
                               "e.g. qemu+ssh://h1/system)", s);
        for (size_t i = 0; i < p->n_hosts; i++)
                if (streq(p->hosts[i], s))
                        return perr(p, "[hosts]: %.60s given twice (first on line %u)", s, p->host_line[i]);
        if (p->n_hosts >= CONFIG_MAX_HOSTS)
                return perr(p, "[hosts]: more than %d hosts", CONFIG_MAX_HOSTS);
        char **n = realloc(p->hosts, (p->n_hosts + 2) * sizeof *n);
        if (!n)
                return -ENOMEM;
        p->hosts = n;
        unsigned *l = realloc(p->host_line, (p->n_hosts + 1) * sizeof *l);
        if (!l)
                return -ENOMEM;
        p->host_line = l;
        if (!(p->hosts[p->n_hosts] = strdup(s)))
                return -ENOMEM;
        p->host_line[p->n_hosts++] = p->line;
        p->hosts[p->n_hosts] = NULL;
        return 0;
}

static int parse_bool(const char *v, bool *ret) {
        if (streq(v, "yes") || streq(v, "true") || streq(v, "1") || streq(v, "on"))
                *ret = true;
        else if (streq(v, "no") || streq(v, "false") || streq(v, "0") || streq(v, "off"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

/* "100ms", "0.1s", "100" (ms) */
static int parse_ms(const char *v, unsigned *ret) {
        char *end;
        double x = strtod(v, &end);
        if (end == v)
                return -EINVAL;
        if (streq(end, "s"))
                x *= 1000;
        else if (*end && !streq(end, "ms"))
                return -EINVAL;
        if (x < 0 || x > 1e7)
                return -ERANGE;
        *ret = (unsigned) (x + 0.5);
        return 0;
}

static int start_section(Parser *p, char *header) {
        p->n_seen = 0;
        char *sp = strchr(header, ' ');
        char *name = sp ? strstrip(sp + 1) : NULL;
        if (sp)
                *sp = 0;
        if (streq(header, "daemon")) {
                if (name)
                        return perr(p, "[daemon] takes no name");
                p->section = SECTION_DAEMON;
                return 0;
        }
        if (streq(header, "hosts")) {
                if (name)
                        return perr(p, "[hosts] takes no name");
                if (p->hosts_line)
                        return perr(p, "[hosts] given twice (first on line %u)", p->hosts_line);
                p->hosts_line = p->line;
                p->section = SECTION_HOSTS;
                return 0;
        }
        bool domain = streq(header, "domain");
        if (!domain && !streq(header, "task"))
                return perr(p, "unknown section [%s] (known: [daemon], [hosts], [domain NAME], [task NAME])", header);
        if (!name || !(domain ? valid_domain_name(name) : valid_name(name)))
                return perr(p, "[%s] needs a NAME of letters, digits, '.', '_' or '-'%s", header,
                            domain ? " (optionally NAME@HOST)" : "");
        Rules *r = &p->rules;
        if (domain) {
                for (size_t i = 0; i < r->n_domains; i++)
                        if (streq(r->domains[i].name, name))
                                return perr(p, "domain '%s' defined twice (first on line %u)", name, r->domains[i].line);
                DomainRule *n = realloc(r->domains, (r->n_domains + 1) * sizeof *n);
                if (!n)
                        return -ENOMEM;
                r->domains = n;
                char **w = realloc(p->rt_when, (r->n_domains + 1) * sizeof *w);
                if (!w)
                        return -ENOMEM;
                p->rt_when = w;
                p->rt_when[r->n_domains] = NULL;
                r->domains[r->n_domains] = (DomainRule) { .name = strdup(name), .rt_on_demand = -1, .line = p->line };
                if (!r->domains[r->n_domains].name)
                        return -ENOMEM;
                p->index = r->n_domains++;
                p->section = SECTION_DOMAIN;
        } else {
                for (size_t i = 0; i < r->n_tasks; i++)
                        if (streq(r->tasks[i].name, name))
                                return perr(p, "task '%s' defined twice (first on line %u)", name, r->tasks[i].line);
                TaskRule *n = realloc(r->tasks, (r->n_tasks + 1) * sizeof *n);
                if (!n)
                        return -ENOMEM;
                r->tasks = n;
                char **td = realloc(p->task_domain, (r->n_tasks + 1) * sizeof *td);
                if (!td)
                        return -ENOMEM;
                p->task_domain = td;
                unsigned *tl = realloc(p->task_domain_line, (r->n_tasks + 1) * sizeof *tl);
                if (!tl)
                        return -ENOMEM;
                p->task_domain_line = tl;
                p->task_domain[r->n_tasks] = NULL;
                r->tasks[r->n_tasks] = (TaskRule) { .name = strdup(name), .priority = 50, .match = TASK_MATCH_COMM,
                                                    .line = p->line };
                if (!r->tasks[r->n_tasks].name)
                        return -ENOMEM;
                p->index = r->n_tasks++;
                p->section = SECTION_TASK;
        }
        return 0;
}

static int set_string(char **field, const char *v) {
        free(*field);
        *field = strdup(v);
        return *field ? 0 : -ENOMEM;
}

static int daemon_key(Parser *p, const char *k, const char *v) {
        Rules *r = &p->rules;
        if (streq(k, "interval")) {
                if (parse_ms(v, &r->interval_ms) < 0 || r->interval_ms < 10 || r->interval_ms > 10000)
                        return perr(p, "interval = %s: expected 10ms to 10s", v);
        } else if (streq(k, "busy_threshold")) {
                double x;
                if (safe_atod(v, &x) < 0 || x <= 0 || x >= 100)
                        return perr(p, "busy_threshold = %s: expected a percentage of one CPU above 0 and below 100", v);
                r->busy_threshold = x / 100;
        } else if (streq(k, "idle_hysteresis") || streq(k, "throttle_ticks")) {
                unsigned n;
                if (safe_atou(v, &n) < 0 || n < 1 || n > 1000)
                        return perr(p, "%s = %s: expected 1 to 1000 ticks", k, v);
                *(streq(k, "idle_hysteresis") ? &r->idle_hysteresis : &r->throttle_ticks) = n;
        } else if (streq(k, "rt_window") || streq(k, "rt_budget")) {
                unsigned ms;
                if (parse_ms(v, &ms) < 0 || ms < 10 || ms > 60000)
                        return perr(p, "%s = %s: expected 10ms to 60s", k, v);
                *(streq(k, "rt_window") ? &r->rt_window_ms : &r->rt_budget_ms) = ms;
        } else if (streq(k, "vcpu_idle")) {
                bool on;
                if (parse_bool(v, &on) < 0)
                        return perr(p, "vcpu_idle = %s: expected yes or no", v);
                r->vcpu_idle_off = !on;
        } else if (streq(k, "agentless_calls")) {
                if (parse_bool(v, &p->agentless_calls) < 0)
                        return perr(p, "agentless_calls = %s: expected yes or no", v);
        } else if (streq(k, "metrics")) {
                struct sockaddr_storage sa;
                socklen_t sa_len;
                char why[200];
                if (metrics_parse_address(v, &sa, &sa_len, why, sizeof why) < 0)
                        return perr(p, "metrics = %s", why);
                return set_string(&p->metrics, v);
        } else if (streq(k, "timeline")) {
                if (v[0] != '/')
                        return perr(p, "timeline = %s: expected an absolute path", v);
                return set_string(&r->timeline, v);
        } else
                return perr(p, "unknown key '%s' in [daemon] (known: interval, busy_threshold, idle_hysteresis, "
                               "throttle_ticks, rt_budget, rt_window, vcpu_idle, agentless_calls, timeline, metrics)", k);
        return 0;
}

static int domain_key(Parser *p, const char *k, const char *v) {
        DomainRule *d = &p->rules.domains[p->index];
        if (streq(k, "match")) {
                if (strchr(v, '@') && !valid_domain_name(v))
                        return perr(p, "match = %s: expected NAME or NAME@HOST (HOST as `xvsched list` spells it)", v);
                return set_string(&d->match, v);
        }
        if (streq(k, "view")) {
                if (!streq(v, "agent") && !streq(v, "qga") && !streq(v, "vmi") && !streq(v, "auto"))
                        return perr(p, "view = %s: expected agent, qga, vmi or auto", v);
                return set_string(&d->view, v);
        }
        if (streq(k, "rt")) {
                char kv[96];
                snprintf(kv, sizeof kv, "rt=%s", v);
                LeverSetting s;
                const char *why;
                if (lever_setting_parse(kv, &s, &why) < 0 || s.v.rt.policy == SCHED_OTHER)
                        return perr(p, "rt = %s: expected fifo:N or rr:N (N from 1 to 99)", v);
                d->rt_policy = s.v.rt.policy;
                d->rt_priority = s.v.rt.priority;
                return 0;
        }
        if (streq(k, "rt_force")) {
                if (parse_bool(v, &d->rt_force) < 0)
                        return perr(p, "rt_force = %s: expected yes or no", v);
                return 0;
        }
        if (streq(k, "rt_threads")) {
                unsigned mask;
                if (thread_mask_from_string(v, &mask) < 0)
                        return perr(p, "rt_threads = %s: expected vcpu, emulator, io or all (comma-separated)", v);
                return set_string(&d->rt_threads, v);
        }
        if (streq(k, "rt_when")) {
                if (!valid_name(v))
                        return perr(p, "rt_when = %s: expected a task name", v);
                return set_string(&p->rt_when[p->index], v);
        }
        static const char *const fixed[] = { "weight", "cap", "cpus", "mems", "memory", "ioweight", "nice" };
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                if (streq(k, fixed[i])) {
                        char *kv = NULL;
                        if (asprintf(&kv, "%s=%s", k, v) < 0)
                                return -ENOMEM;
                        LeverSetting s;
                        const char *why;
                        if (lever_setting_parse(kv, &s, &why) < 0) {
                                free(kv);
                                return perr(p, "%s = %s: %s", k, v, why);
                        }
                        char **n = realloc(d->fixed, (d->n_fixed + 1) * sizeof *n);
                        if (!n) {
                                free(kv);
                                return -ENOMEM;
                        }
                        d->fixed = n;
                        d->fixed[d->n_fixed++] = kv;
                        return 0;
                }
        return perr(p, "unknown key '%s' in [domain %s] (known: match, view, rt, rt_threads, rt_when, rt_force, "
                       "weight, cap, cpus, mems, memory, ioweight, nice)", k, d->name);
}

static int task_key(Parser *p, const char *k, const char *v) {
        TaskRule *t = &p->rules.tasks[p->index];
        if (streq(k, "domain")) {
                p->task_domain_line[p->index] = p->line;
                return set_string(&p->task_domain[p->index], v);
        }
        if (streq(k, "comm") || streq(k, "cmdline") || streq(k, "pid")) {
                for (size_t i = 0; i < p->n_seen; i++)
                        if (streq(p->seen[i], "comm") || streq(p->seen[i], "cmdline") || streq(p->seen[i], "pid"))
                                if (!streq(p->seen[i], k))
                                        return perr(p, "task '%s' has both %s and %s: give exactly one", t->name,
                                                    p->seen[i], k);
                if (streq(k, "comm")) {
                        if (!*v || strlen(v) > 15)
                                return perr(p, "comm = %s: a process name of 1 to 15 characters", v);
                        t->match = TASK_MATCH_COMM;
                } else if (streq(k, "pid")) {
                        int pid;
                        if (safe_atoi(v, &pid) < 0 || pid <= 0)
                                return perr(p, "pid = %s: expected a positive process id", v);
                        t->match = TASK_MATCH_PID;
                } else
                        t->match = TASK_MATCH_CMDLINE;
                return set_string(&t->pattern, v);
        }
        if (streq(k, "class")) {
                TaskClass c = task_class_from_string(v);
                if (c < 0)
                        return perr(p, "class = %s: expected normal, idle or rt", v);
                t->class = c;
                return 0;
        }
        if (streq(k, "priority")) {
                if (safe_atoi(v, &t->priority) < 0 || t->priority < 0 || t->priority > POLICY_PRIORITY_MAX)
                        return perr(p, "priority = %s: expected 0 to 99 (higher wins)", v);
                return 0;
        }
        if (streq(k, "share")) {
                size_t n = strlen(v);
                char buf[32];
                snprintf(buf, sizeof buf, "%.*s", (int) (n && v[n - 1] == '%' ? n - 1 : n), v);
                if (safe_atod(buf, &t->share_pct) < 0 || t->share_pct <= 0 || t->share_pct > 100)
                        return perr(p, "share = %s: expected a percentage above 0 and at most 100", v);
                return 0;
        }
        if (streq(k, "burst")) {
                if (parse_bool(v, &t->burst) < 0)
                        return perr(p, "burst = %s: expected yes or no", v);
                return 0;
        }
        return perr(p, "unknown key '%s' in [task %s] (known: domain, comm, cmdline, pid, class, priority, share, burst)",
                    k, t->name);
}

static int finish(Parser *p) {
        Rules *r = &p->rules;
        if (p->hosts_line && p->n_hosts == 0) {
                p->line = p->hosts_line;
                return perr(p, "[hosts] lists no URI (one a line, e.g. qemu+ssh://h1/system)");
        }
        if (r->n_tasks == 0 && r->n_domains == 0) {
                p->line = 0;
                return perr(p, "no [domain] or [task] sections: nothing to do");
        }
        for (size_t i = 0; i < r->n_tasks; i++) {
                TaskRule *t = &r->tasks[i];
                p->line = t->line;
                if (!t->pattern)
                        return perr(p, "task '%s' names no process (give comm, cmdline or pid)", t->name);
                if (!p->task_domain[i])
                        return perr(p, "task '%s' has no domain", t->name);
                bool found = false;
                for (size_t d = 0; d < r->n_domains; d++)
                        if (streq(r->domains[d].name, p->task_domain[i])) {
                                t->domain = d;
                                found = true;
                        }
                if (!found) {
                        p->line = p->task_domain_line[i];
                        return perr(p, "task '%s': no [domain %s] section", t->name, p->task_domain[i]);
                }
                /* Two rules for the same process cannot give it two classes. */
                for (size_t k = 0; k < i; k++) {
                        TaskRule *o = &r->tasks[k];
                        if (o->domain == t->domain && o->match == t->match && streq(o->pattern, t->pattern) &&
                            (o->class != t->class || o->priority != t->priority))
                                return perr(p, "task '%s' names the same process as task '%s' (line %u) with another "
                                               "class or priority", t->name, o->name, o->line);
                }
                if (t->class == TASK_CLASS_IDLE && (t->share_pct > 0 || t->burst))
                        return perr(p, "task '%s': the idle class takes no share or burst", t->name);
        }
        if (r->rt_budget_ms >= (r->rt_window_ms ? r->rt_window_ms : POLICY_RT_WINDOW_MS_DEFAULT)) {
                p->line = 0;
                return perr(p, "rt_budget = %ums is not below rt_window (%ums): RT on demand needs a budget "
                               "below its window", r->rt_budget_ms,
                            r->rt_window_ms ? r->rt_window_ms : POLICY_RT_WINDOW_MS_DEFAULT);
        }
        double total = 0;
        for (size_t i = 0; i < r->n_tasks; i++)
                total += r->tasks[i].share_pct;
        if (total > 100.0 + 1e-9) {
                p->line = 0;
                return perr(p, "the shares add up to %.1f %%, more than 100", total);
        }
        for (size_t d = 0; d < r->n_domains; d++) {
                DomainRule *dr = &r->domains[d];
                p->line = dr->line;
                if (!dr->match && set_string(&dr->match, dr->name) < 0)
                        return -ENOMEM;
                if (!dr->view && set_string(&dr->view, "auto") < 0)
                        return -ENOMEM;
                if (!dr->rt_threads && set_string(&dr->rt_threads, "vcpu") < 0)
                        return -ENOMEM;
                /* rt_when, or an rt-class task, makes rt on demand. */
                const char *when = p->rt_when[d];
                for (size_t i = 0; i < r->n_tasks; i++) {
                        if (r->tasks[i].domain != d)
                                continue;
                        if ((when && streq(r->tasks[i].name, when)) || (!when && r->tasks[i].class == TASK_CLASS_RT))
                                dr->rt_on_demand = (long) i;
                }
                if (when && dr->rt_on_demand < 0)
                        return perr(p, "domain '%s': rt_when = %s names no task of this domain", dr->name, when);
                if (dr->rt_on_demand >= 0 && dr->rt_policy == 0) {
                        dr->rt_policy = SCHED_FIFO; /* an rt task without a domain rt: fifo:10 */
                        dr->rt_priority = 10;
                }
        }
        return 0;
}

static void parser_done(Parser *p) {
        for (size_t i = 0; i < p->rules.n_tasks; i++)
                free(p->task_domain ? p->task_domain[i] : NULL);
        free(p->task_domain);
        free(p->task_domain_line);
        for (size_t i = 0; i < p->rules.n_domains; i++)
                free(p->rt_when ? p->rt_when[i] : NULL);
        free(p->rt_when);
        free(p->metrics);
        for (size_t i = 0; i < p->n_hosts; i++)
                free(p->hosts[i]);
        free(p->hosts);
        free(p->host_line);
}

void config_daemon_done(ConfigDaemon *c) {
        free(c->metrics);
        for (size_t i = 0; i < c->n_hosts; i++)
                free(c->hosts[i]);
        free(c->hosts);
        *c = (ConfigDaemon) {};
}

int config_parse_string_daemon(const char *text, const char *name, Rules *ret, ConfigDaemon *ret_daemon, char *error,
                               size_t error_size) {
        Parser p = { .file = name, .error = error, .error_size = error_size, .agentless_calls = true };
        p.rules = (Rules) { .interval_ms = 100, .busy_threshold = 0.05, .idle_hysteresis = 3, .throttle_ticks = 3,
                            .starved_fraction = 0.5, .rt_window_ms = POLICY_RT_WINDOW_MS_DEFAULT };
        _cleanup_free_ char *copy = strdup(text);
        int r = copy ? 0 : -ENOMEM;
        char *save = NULL;
        for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; r >= 0 && line; line = strtok_r(NULL, "\n", &save)) {
                /* strtok_r skips empty lines, and parsing writes NULs into
                 * earlier lines: count newlines in the untouched text. */
                p.line = 1;
                for (const char *c = text; c < text + (line - copy); c++)
                        p.line += *c == '\n';
                char *hash = strchr(line, '#');
                if (hash)
                        *hash = 0;
                char *s = strstrip(line);
                if (!*s)
                        continue;
                if (*s == '[') {
                        size_t n = strlen(s);
                        if (s[n - 1] != ']') {
                                r = perr(&p, "section header without ']'");
                                break;
                        }
                        s[n - 1] = 0;
                        r = start_section(&p, strstrip(s + 1));
                        continue;
                }
                if (p.section == SECTION_HOSTS) {
                        /* one URI a line (a URI's query may hold '=') */
                        r = hosts_line(&p, s);
                        continue;
                }
                char *eq = strchr(s, '=');
                if (!eq) {
                        r = perr(&p, "expected KEY = VALUE or [section], got '%.40s'", s);
                        break;
                }
                *eq = 0;
                char *k = strstrip(s), *v = strstrip(eq + 1);
                if (!*k || !*v) {
                        r = perr(&p, "empty %s", *k ? "value" : "key");
                        break;
                }
                if (p.section == SECTION_NONE) {
                        r = perr(&p, "'%s' outside any section", k);
                        break;
                }
                for (size_t i = 0; i < p.n_seen; i++)
                        if (streq(p.seen[i], k)) {
                                r = perr(&p, "'%s' given twice in this section", k);
                                break;
                        }
                if (r < 0)
                        break;
                if (p.n_seen < ELEMENTSOF(p.seen))
                        snprintf(p.seen[p.n_seen++], sizeof p.seen[0], "%s", k);
                r = p.section == SECTION_DAEMON   ? daemon_key(&p, k, v)
                    : p.section == SECTION_DOMAIN ? domain_key(&p, k, v)
                                                  : task_key(&p, k, v);
        }
        if (r >= 0)
                r = finish(&p);
        if (r == -ENOMEM)
                snprintf(error, error_size, "%s: out of memory", name);
        if (r >= 0 && ret_daemon) {
                *ret_daemon = (ConfigDaemon) { .metrics = p.metrics, .agentless_calls = p.agentless_calls,
                                               .hosts = p.hosts, .n_hosts = p.n_hosts };
                p.metrics = NULL;
                p.hosts = NULL;
                p.n_hosts = 0;
        }
        parser_done(&p);
        if (r < 0) {
                rules_done(&p.rules);
                return r;
        }
        *ret = p.rules;
        return 0;
}

int config_parse_string(const char *text, const char *name, Rules *ret, char *error, size_t error_size) {
        return config_parse_string_daemon(text, name, ret, NULL, error, error_size);
}

int config_parse_file(const char *path, Rules *ret, char *error, size_t error_size) {
        return config_parse_file_daemon(path, ret, NULL, error, error_size);
}

int config_parse_file_daemon(const char *path, Rules *ret, ConfigDaemon *ret_daemon, char *error, size_t error_size) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r = read_full_file(path, 1 << 20, &text, &size);
        if (r < 0) {
                snprintf(error, error_size, "%s: cannot read: %s", path, r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
                return r;
        }
        if (strlen(text) != size) {
                snprintf(error, error_size, "%s: not a text file (NUL bytes)", path);
                return -EINVAL;
        }
        return config_parse_string_daemon(text, path, ret, ret_daemon, error, error_size);
}

const char *config_rule_host(const DomainRule *d) {
        const char *at = d->match ? strchr(d->match, '@') : NULL;
        return at ? at + 1 : NULL;
}

static char *strdup_or_null(const char *s, bool *oom) {
        char *c = s ? strdup(s) : NULL;
        if (s && !c)
                *oom = true;
        return c;
}

int config_rules_for_host(const Rules *src, const char *host, Rules *ret) {
        Rules r = *src;
        bool oom = false;
        r.domains = NULL;
        r.tasks = NULL;
        r.n_domains = r.n_tasks = 0;
        r.timeline = strdup_or_null(src->timeline, &oom);
        _cleanup_free_ size_t *map = calloc(src->n_domains ? src->n_domains : 1, sizeof *map);
        _cleanup_free_ long *tmap = calloc(src->n_tasks ? src->n_tasks : 1, sizeof *tmap);
        r.domains = calloc(src->n_domains ? src->n_domains : 1, sizeof *r.domains);
        r.tasks = calloc(src->n_tasks ? src->n_tasks : 1, sizeof *r.tasks);
        if (!map || !tmap || !r.domains || !r.tasks || oom) {
                rules_done(&r);
                return -ENOMEM;
        }
        for (size_t i = 0; i < src->n_domains; i++) {
                const DomainRule *s = &src->domains[i];
                const char *bound = config_rule_host(s);
                map[i] = SIZE_MAX;
                if (bound && !streq(bound, host))
                        continue;
                DomainRule *d = &r.domains[r.n_domains];
                *d = *s;
                d->name = strdup_or_null(s->name, &oom);
                d->match = s->match ? strndup(s->match, bound ? (size_t) (bound - 1 - s->match) : strlen(s->match)) : NULL;
                oom = oom || (s->match && !d->match);
                d->view = strdup_or_null(s->view, &oom);
                d->rt_threads = strdup_or_null(s->rt_threads, &oom);
                d->fixed = calloc(s->n_fixed ? s->n_fixed : 1, sizeof *d->fixed);
                if (!d->fixed) {
                        d->n_fixed = 0;
                        oom = true;
                }
                for (size_t k = 0; d->fixed && k < s->n_fixed; k++)
                        d->fixed[k] = strdup_or_null(s->fixed[k], &oom);
                map[i] = r.n_domains++;
        }
        for (size_t t = 0; t < src->n_tasks; t++) {
                const TaskRule *s = &src->tasks[t];
                tmap[t] = -1;
                if (map[s->domain] == SIZE_MAX)
                        continue;
                TaskRule *n = &r.tasks[r.n_tasks];
                *n = *s;
                n->domain = map[s->domain];
                n->name = strdup_or_null(s->name, &oom);
                n->pattern = strdup_or_null(s->pattern, &oom);
                tmap[t] = (long) r.n_tasks++;
        }
        for (size_t i = 0; i < r.n_domains; i++)
                if (r.domains[i].rt_on_demand >= 0)
                        r.domains[i].rt_on_demand = tmap[r.domains[i].rt_on_demand];
        if (oom) {
                rules_done(&r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}
