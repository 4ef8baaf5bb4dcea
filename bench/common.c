/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <cpuid.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "lib/clock.h"
#include "lib/opts.h"
#include "xvbench.h"

#define MAX_OPTS 64

static const struct option common_opts[] = {
        { "json", optional_argument, NULL, OPT_JSON },
        { "max-latency", required_argument, NULL, OPT_MAX_LATENCY },
        { "hist-range", required_argument, NULL, OPT_HIST_RANGE },
        { "warmup", required_argument, NULL, OPT_WARMUP },
        { "quiet", no_argument, NULL, OPT_QUIET },
        { "help", no_argument, NULL, OPT_HELP },
};

static const char *wl_name(const Bench *b) {
        return b->wl ? b->wl->name : "xvbench";
}

static void vlog_line(Bench *b, int level, int err, const char *fmt, va_list ap) {
        char buf[1024];
        vsnprintf(buf, sizeof buf, fmt, ap);
        if (err)
                log_full_errno(level, err, "%s: %s: %m", wl_name(b), buf);
        else
                log_full_errno(level, 0, "%s: %s", wl_name(b), buf);
}

int bench_usage(Bench *b, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vlog_line(b, LOG_LEVEL_ERR, 0, fmt, ap);
        va_end(ap);
        return EXIT_USAGE;
}

int bench_fail(Bench *b, int err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vlog_line(b, LOG_LEVEL_ERR, err, fmt, ap);
        va_end(ap);
        return EXIT_FAIL;
}

void bench_warn(Bench *b, int err, const char *fmt, ...) {
        if (b->quiet)
                return;
        va_list ap;
        va_start(ap, fmt);
        vlog_line(b, LOG_LEVEL_WARNING, err, fmt, ap);
        va_end(ap);
}

int opt_duration(Bench *b, const char *opt, const char *s, uint64_t unit, uint64_t *ret) {
        if (parse_duration(s, unit, ret) < 0) {
                bench_usage(b, "invalid duration '%s' for --%s (a number with ns, us, ms, s, m or h; bare = %s)",
                            s, opt, unit == NSEC_PER_SEC ? "s" : unit == NSEC_PER_MSEC ? "ms" : "us");
                return -EXIT_USAGE;
        }
        return 0;
}

int opt_bytes(Bench *b, const char *opt, const char *s, uint64_t *ret) {
        int r = parse_bytes(s, ret);
        if (r < 0 || *ret == 0) {
                bench_usage(b, "invalid size '%s' for --%s (a positive number with an optional K, M, G or T suffix)",
                            s, opt);
                return -EXIT_USAGE;
        }
        return 0;
}

int opt_count(Bench *b, const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        uint64_t v;
        if (parse_count(s, &v) < 0 || v < min || v > max) {
                bench_usage(b, "invalid value '%s' for --%s (an integer from %" PRIu64 " to %" PRIu64 ", k/M/G allowed)",
                            s, opt, min, max);
                return -EXIT_USAGE;
        }
        *ret = v;
        return 0;
}

int opt_int(Bench *b, const char *opt, const char *s, int min, int max, int *ret) {
        uint64_t v;
        int r = opt_count(b, opt, s, (uint64_t) min, (uint64_t) max, &v);
        if (r == 0)
                *ret = (int) v;
        return r;
}

int bench_getopt(Bench *b, int argc, char **argv, const struct option *wl_opts) {
        struct option all[MAX_OPTS];
        size_t n = 0;
        for (const struct option *o = wl_opts; o && o->name && n < MAX_OPTS - ELEMENTSOF(common_opts) - 1; o++)
                all[n++] = *o;
        for (size_t i = 0; i < ELEMENTSOF(common_opts); i++)
                all[n++] = common_opts[i];
        all[n] = (struct option) {};

        opterr = 0;
        for (;;) {
                int c = getopt_long(argc, argv, ":h", all, NULL);
                uint64_t v;
                switch (c) {
                case -1:
                        return -1;
                case 'h':
                case OPT_HELP:
                        fputs(b->wl->usage, stdout);
                        return OPT_HELP;
                case OPT_JSON:
                        b->json_path = optarg ? optarg : "-";
                        break;
                case OPT_MAX_LATENCY:
                        if (opt_duration(b, "max-latency", optarg, NSEC_PER_USEC, &b->max_latency_ns) < 0)
                                return -EXIT_USAGE;
                        if (b->max_latency_ns == 0)
                                return -bench_usage(b, "--max-latency must be positive");
                        break;
                case OPT_HIST_RANGE:
                        if (opt_duration(b, "hist-range", optarg, NSEC_PER_USEC, &v) < 0)
                                return -EXIT_USAGE;
                        if (v < NSEC_PER_USEC || v > 60 * NSEC_PER_SEC)
                                return -bench_usage(b, "--hist-range must be between 1us and 60s");
                        b->hist_range_ns = v;
                        break;
                case OPT_WARMUP:
                        if (opt_count(b, "warmup", optarg, 0, 1000000, &v) < 0)
                                return -EXIT_USAGE;
                        b->warmup = (unsigned) v;
                        b->warmup_set = true;
                        break;
                case OPT_QUIET:
                        b->quiet = true;
                        break;
                case ':':
                        return -bench_usage(b, "option '%s' needs a value", argv[optind - 1]);
                case '?':
                        if (optopt)
                                return -bench_usage(b, "unknown option '-%c' (see 'xvbench help %s')",
                                                    optopt, wl_name(b));
                        return -bench_usage(b, "unknown option '%s' (see 'xvbench help %s')",
                                            argv[optind - 1], wl_name(b));
                default:
                        return c;
                }
        }
}

unsigned bench_warmup(const Bench *b, unsigned dflt) {
        return b->warmup_set ? b->warmup : dflt;
}

int bench_open_output(Bench *b) {
        if (!b->json_path || streq(b->json_path, "-")) {
                b->out = stdout;
                return 0;
        }
        b->out = fopen(b->json_path, "we");
        if (!b->out) {
                b->out = stdout;
                return bench_fail(b, errno, "cannot write '%s'", b->json_path);
        }
        b->out_close = true;
        return 0;
}

int bench_need_tsc(Bench *b) {
        if (b->tsc_ok)
                return 0;
        int r = tsc_calibrate(&b->tsc, 100 * NSEC_PER_MSEC);
        if (r < 0)
                return bench_fail(b, r, "cannot calibrate the TSC");
        b->tsc_ok = true;
        return 0;
}

void bench_start(Bench *b) {
        clock_gettime(CLOCK_REALTIME, &b->start_rt);
        b->start_mono = now_ns(CLOCK_MONOTONIC);
        b->started = true;
}

void bench_stop(Bench *b) {
        clock_gettime(CLOCK_REALTIME, &b->end_rt);
        b->end_mono = now_ns(CLOCK_MONOTONIC);
        b->stopped = true;
}

/* ---- output ---- */

static bool is_json(const Bench *b) {
        return b->json_path != NULL;
}

static void text_indent(Bench *b) {
        for (int i = 0; i < b->text_depth; i++)
                fputs("  ", b->out);
}

static void format_time(const struct timespec *ts, char *buf, size_t len) {
        struct tm tm;
        gmtime_r(&ts->tv_sec, &tm);
        size_t k = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + k, len - k, ".%06ldZ", ts->tv_nsec / 1000);
}

static void hypervisor_vendor(char *buf, size_t len) {
        unsigned a, b, c, d;
        buf[0] = 0;
        if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 31)))
                return;
        __cpuid(0x40000000, a, b, c, d);
        char v[13];
        memcpy(v, &b, 4);
        memcpy(v + 4, &c, 4);
        memcpy(v + 8, &d, 4);
        v[12] = 0;
        /* Keep it printable whatever the hypervisor put there. */
        for (int i = 0; i < 12; i++)
                if (v[i] && (v[i] < 0x20 || v[i] > 0x7e))
                        v[i] = '?';
        snprintf(buf, len, "%s", v[0] ? v : "unknown");
}

void report_begin(Bench *b) {
        if (!b->started)
                bench_start(b);
        if (!b->stopped)
                bench_stop(b);
        if (!b->tsc_ok && tsc_calibrate(&b->tsc, 50 * NSEC_PER_MSEC) >= 0)
                b->tsc_ok = true;

        struct utsname u = {};
        uname(&u);
        _cleanup_free_ char *clocksource = NULL;
        if (read_one_line("/sys/devices/system/clocksource/clocksource0/current_clocksource", &clocksource) < 0)
                clocksource = NULL;
        char start[64], end[64], hv[32];
        format_time(&b->start_rt, start, sizeof start);
        format_time(&b->end_rt, end, sizeof end);
        hypervisor_vendor(hv, sizeof hv);
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

        if (is_json(b)) {
                json_init(&b->j, b->out);
                json_begin_object(&b->j, NULL);
                json_string(&b->j, "xvbench_version", XVSCHED_VERSION);
                json_string(&b->j, "workload", b->wl->name);
                json_begin_array(&b->j, "command_line", true);
                for (int i = 0; i < b->argc; i++)
                        json_string(&b->j, NULL, b->argv[i]);
                json_end_array(&b->j);
                json_string(&b->j, "start_time_utc", start);
                json_string(&b->j, "end_time_utc", end);
                json_u64(&b->j, "elapsed_ns", b->end_mono - b->start_mono);
                json_begin_object(&b->j, "system");
                json_string(&b->j, "sysname", u.sysname);
                json_string(&b->j, "nodename", u.nodename);
                json_string(&b->j, "release", u.release);
                json_string(&b->j, "version", u.version);
                json_string(&b->j, "machine", u.machine);
                json_i64(&b->j, "cpu_count", ncpu);
                json_string(&b->j, "clocksource", clocksource);
                json_string(&b->j, "hypervisor", hv[0] ? hv : NULL);
                if (b->tsc_ok) {
                        json_u64(&b->j, "tsc_hz", b->tsc.hz);
                        json_bool(&b->j, "tsc_invariant", b->tsc.invariant);
                        json_bool(&b->j, "tsc_rdtscp", b->tsc.have_rdtscp);
                        json_u64(&b->j, "tsc_calibration_ns", b->tsc.calib_ns);
                        json_u64(&b->j, "tsc_calibration_spread_ppm", b->tsc.spread_ppm);
                } else
                        json_null(&b->j, "tsc_hz");
                json_end_object(&b->j);
                if (b->max_latency_ns)
                        json_u64(&b->j, "max_latency_limit_ns", b->max_latency_ns);
                else
                        json_null(&b->j, "max_latency_limit_ns");
        } else if (!b->quiet) {
                fprintf(b->out, "xvbench %s %s on %s %s (%ld CPUs, clocksource %s%s%s",
                        XVSCHED_VERSION, b->wl->name, u.nodename, u.release, ncpu,
                        clocksource ?: "?", hv[0] ? ", hypervisor " : "", hv);
                if (b->tsc_ok)
                        fprintf(b->out, ", TSC %.3f MHz%s", (double) b->tsc.hz / 1e6,
                                b->tsc.invariant ? "" : " not invariant");
                fprintf(b->out, ")\n");
                char buf[32];
                fprintf(b->out, "started %s, ran %s\n", start,
                        format_ns(buf, sizeof buf, (double) (b->end_mono - b->start_mono)));
        }
}

int report_end(Bench *b) {
        int r = 0;
        if (is_json(b)) {
                json_bool(&b->j, "max_latency_exceeded", b->max_latency_exceeded);
                json_end_object(&b->j);
                r = json_finish(&b->j);
        } else {
                if (b->max_latency_exceeded)
                        fprintf(b->out, "max latency %" PRIu64 " ns exceeded\n", b->max_latency_ns);
                if (fflush(b->out) != 0 || ferror(b->out))
                        r = -EIO;
        }
        if (b->out_close) {
                if (fclose(b->out) != 0 && r == 0)
                        r = -errno;
                b->out = stdout;
                b->out_close = false;
        }
        if (r == -EINVAL)
                return bench_fail(b, 0, "internal error: malformed JSON document") ;
        if (r < 0)
                return bench_fail(b, r, "cannot write the report");
        return b->max_latency_exceeded ? EXIT_LATENCY : EXIT_OK;
}

void out_begin(Bench *b, const char *key) {
        if (is_json(b)) {
                json_begin_object(&b->j, key);
                return;
        }
        if (b->quiet)
                return;
        text_indent(b);
        fprintf(b->out, "%s:\n", key);
        b->text_depth++;
}

void out_end(Bench *b) {
        if (is_json(b))
                json_end_object(&b->j);
        else if (b->text_depth > 0)
                b->text_depth--;
}

void out_list_begin(Bench *b, const char *key) {
        if (is_json(b)) {
                json_begin_array(&b->j, key, false);
                return;
        }
        out_begin(b, key);
}

void out_list_end(Bench *b) {
        if (is_json(b))
                json_end_array(&b->j);
        else
                out_end(b);
}

void out_item_begin(Bench *b) {
        if (is_json(b)) {
                json_begin_object(&b->j, NULL);
                return;
        }
        if (b->quiet)
                return;
        text_indent(b);
        fputs("-\n", b->out);
        b->text_depth++;
}

void out_item_end(Bench *b) {
        out_end(b);
}

#define TEXT_LINE(b, key, fmt, ...)                                      \
        do {                                                             \
                if (!(b)->quiet) {                                       \
                        text_indent(b);                                  \
                        fprintf((b)->out, "%s: " fmt "\n", key, __VA_ARGS__); \
                }                                                        \
        } while (0)

void out_u64(Bench *b, const char *key, uint64_t v) {
        if (is_json(b))
                json_u64(&b->j, key, v);
        else
                TEXT_LINE(b, key, "%" PRIu64, v);
}

void out_i64(Bench *b, const char *key, int64_t v) {
        if (is_json(b))
                json_i64(&b->j, key, v);
        else
                TEXT_LINE(b, key, "%" PRId64, v);
}

void out_double(Bench *b, const char *key, double v) {
        if (is_json(b))
                json_double(&b->j, key, v);
        else
                TEXT_LINE(b, key, "%.6g", v);
}

void out_str(Bench *b, const char *key, const char *v) {
        if (is_json(b))
                json_string(&b->j, key, v);
        else
                TEXT_LINE(b, key, "%s", v ?: "-");
}

void out_bool(Bench *b, const char *key, bool v) {
        if (is_json(b))
                json_bool(&b->j, key, v);
        else
                TEXT_LINE(b, key, "%s", v ? "yes" : "no");
}

void out_u64_array(Bench *b, const char *key, const uint64_t *v, size_t n) {
        if (is_json(b)) {
                json_begin_array(&b->j, key, true);
                for (size_t i = 0; i < n; i++)
                        json_u64(&b->j, NULL, v[i]);
                json_end_array(&b->j);
                return;
        }
        if (b->quiet)
                return;
        text_indent(b);
        fprintf(b->out, "%s:", key);
        for (size_t i = 0; i < n; i++)
                fprintf(b->out, " %" PRIu64, v[i]);
        fputc('\n', b->out);
}

static const struct { const char *key; const char *label; double p; } pcts[] = {
        { "p50_ns", "p50", 50 }, { "p90_ns", "p90", 90 }, { "p99_ns", "p99", 99 },
        { "p99_9_ns", "p99.9", 99.9 }, { "p99_99_ns", "p99.99", 99.99 },
};

void out_latency(Bench *b, const char *key, LatStats *s) {
        if (b->max_latency_ns && s->count > 0 && s->max > b->max_latency_ns)
                b->max_latency_exceeded = true;
        out_distribution(b, key, s);
}

void out_distribution(Bench *b, const char *key, LatStats *s) {
        if (!is_json(b)) {
                if (b->quiet)
                        return;
                char v[32];
                text_indent(b);
                fprintf(b->out, "%s: %" PRIu64 " samples", key, s->count);
                if (s->count > 0) {
                        fprintf(b->out, ", min %s", format_ns(v, sizeof v, (double) s->min));
                        fprintf(b->out, ", mean %s", format_ns(v, sizeof v, s->mean));
                        fprintf(b->out, ", stddev %s", format_ns(v, sizeof v, lat_stddev(s)));
                        fprintf(b->out, ", max %s\n", format_ns(v, sizeof v, (double) s->max));
                        text_indent(b);
                        fprintf(b->out, "  ");
                        for (size_t i = 0; i < ELEMENTSOF(pcts); i++)
                                fprintf(b->out, "%s%s %s", i ? ", " : "", pcts[i].label,
                                        format_ns(v, sizeof v, (double) lat_percentile(s, pcts[i].p)));
                        fprintf(b->out, "%s; %" PRIu64 " over %s\n", lat_percentiles_exact(s) ? "" : " (from histogram)",
                                s->hist.overflow,
                                format_ns(v, sizeof v, (double) (s->hist.width_ns * s->hist.nbuckets)));
                } else
                        fputc('\n', b->out);
                return;
        }

        Json *j = &b->j;
        json_begin_object(j, key);
        json_u64(j, "count", s->count);
        if (s->count > 0) {
                json_u64(j, "min_ns", s->min);
                json_double(j, "mean_ns", s->mean);
                json_u64(j, "max_ns", s->max);
                json_double(j, "stddev_ns", lat_stddev(s));
                for (size_t i = 0; i < ELEMENTSOF(pcts); i++)
                        json_u64(j, pcts[i].key, lat_percentile(s, pcts[i].p));
        } else {
                json_null(j, "min_ns");
                json_null(j, "mean_ns");
                json_null(j, "max_ns");
                json_null(j, "stddev_ns");
                for (size_t i = 0; i < ELEMENTSOF(pcts); i++)
                        json_null(j, pcts[i].key);
        }
        json_bool(j, "percentiles_exact", lat_percentiles_exact(s));
        json_begin_object(j, "histogram");
        json_u64(j, "bucket_width_ns", s->hist.width_ns);
        json_u64(j, "range_ns", s->hist.width_ns * s->hist.nbuckets);
        json_u64(j, "overflow_count", s->hist.overflow);
        /* Sparse: [bucket lower bound in us, count] for non-empty buckets. */
        json_begin_array(j, "buckets_lower_us_count", false);
        for (size_t i = 0; i < s->hist.nbuckets; i++)
                if (s->hist.counts[i]) {
                        json_begin_array(j, NULL, true);
                        json_u64(j, NULL, (uint64_t) i * s->hist.width_ns / NSEC_PER_USEC);
                        json_u64(j, NULL, s->hist.counts[i]);
                        json_end_array(j);
                }
        json_end_array(j);
        json_end_object(j);
        json_end_object(j);
}

void out_summary(Bench *b, const char *key, const Summary *s, const char *unit) {
        char k[64];
        if (!is_json(b)) {
                if (b->quiet)
                        return;
                text_indent(b);
                fprintf(b->out, "%s: n %zu, min %.6g, median %.6g, mean %.6g, max %.6g, stddev %.4g (%s)\n",
                        key, s->n, s->min, s->median, s->mean, s->max, s->stddev, unit);
                return;
        }
        json_begin_object(&b->j, key);
        json_u64(&b->j, "n", s->n);
#define F(name, v)                                               \
        snprintf(k, sizeof k, name "_%s", unit);                 \
        if (s->n)                                                \
                json_double(&b->j, k, v);                        \
        else                                                     \
                json_null(&b->j, k);
        F("min", s->min);
        F("median", s->median);
        F("mean", s->mean);
        F("max", s->max);
        F("stddev", s->stddev);
#undef F
        json_end_object(&b->j);
}
