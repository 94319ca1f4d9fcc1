/*
 * loadgen: an HTTP/1.1 load generator for unix sockets, with per-request latencies.
 *
 * No packaged load tool speaks HTTP over a unix socket and reports microsecond
 * percentiles, and Python cannot saturate the daemon's /_ping; so this one.
 *
 *   loadgen [-c CONNS] [-d SECONDS | -n REQUESTS] [-w WARMUP_SECONDS] [-m METHOD] SOCKET PATH
 *       C keep-alive connections (one thread each) send METHOD PATH back to back.
 *       Prints one JSON object: requests, seconds, rps, latency and time-to-first-byte
 *       percentiles (us), bytes, errors, and loadgen's own CPU seconds.
 *   loadgen -s SOCKET PATH
 *       Stream mode (hijacked attach): POSTs PATH, prints "sent" once the request is out
 *       and "head STATUS" once the answer head arrived, then counts bytes until EOF and
 *       prints one JSON object: bytes, seconds (first body byte to EOF), mb_per_s.
 *
 * Build: gcc -O2 -pthread -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (256 * 1024)

static const char *sock_path, *req_path, *method = "GET";
static char request[4096];
static size_t request_len;
static double duration = 0, warmup = 0;
static long max_requests = 0;
static atomic_long issued;     /* requests started, for -n */
static int64_t t_measure, t_end; /* ns, monotonic: measuring starts / stops */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int connect_unix(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (fd < 0) die("socket");
    strncpy(addr.sun_path, sock_path, sizeof addr.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die(sock_path);
    return fd;
}

/* A buffered reader over one connection. */
typedef struct {
    int fd;
    char *buf;
    size_t start, end;
    int64_t first_byte; /* time the current response's first byte arrived, 0 = not yet */
} conn_t;

static int fill(conn_t *c) {
    if (c->start == c->end) c->start = c->end = 0;
    if (c->end == BUF_SIZE) { /* compact */
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    ssize_t n = read(c->fd, c->buf + c->end, BUF_SIZE - c->end);
    if (n <= 0) return -1;
    if (!c->first_byte) c->first_byte = now_ns();
    c->end += (size_t)n;
    return 0;
}

/* A line without its CRLF, NUL-terminated in place; NULL at EOF. */
static char *read_line(conn_t *c) {
    for (;;) {
        char *nl = memchr(c->buf + c->start, '\n', c->end - c->start);
        if (nl) {
            char *line = c->buf + c->start;
            c->start = (size_t)(nl - c->buf) + 1;
            if (nl > line && nl[-1] == '\r') nl--;
            *nl = 0;
            return line;
        }
        if (c->start == 0 && c->end == BUF_SIZE) return NULL; /* line too long */
        if (fill(c) < 0) return NULL;
    }
}

static int skip(conn_t *c, uint64_t n) {
    while (n) {
        if (c->start == c->end && fill(c) < 0) return -1;
        size_t have = c->end - c->start;
        size_t take = have < n ? have : (size_t)n;
        c->start += take;
        n -= take;
    }
    return 0;
}

typedef struct {
    int status;
    long long length; /* -1: none given */
    int chunked;
} head_t;

static int read_head(conn_t *c, head_t *h) {
    char *line = read_line(c);
    if (!line || strncmp(line, "HTTP/1.", 7) != 0) return -1;
    h->status = atoi(line + 9);
    h->length = -1;
    h->chunked = 0;
    while ((line = read_line(c)) && *line) {
        if (!strncasecmp(line, "content-length:", 15)) h->length = atoll(line + 15);
        else if (!strncasecmp(line, "transfer-encoding:", 18) && strcasestr(line + 18, "chunked"))
            h->chunked = 1;
    }
    return line ? 0 : -1;
}

/* Reads the body of one (non-hijacked) response; returns its size or -1. */
static long long read_body(conn_t *c, const head_t *h) {
    if (h->status == 204 || h->status == 304 || (h->status >= 100 && h->status < 200)) return 0;
    if (!h->chunked) {
        if (h->length < 0) return -1; /* until-close bodies end the connection: not for load */
        return skip(c, (uint64_t)h->length) < 0 ? -1 : h->length;
    }
    long long total = 0;
    for (;;) {
        char *line = read_line(c);
        if (!line) return -1;
        unsigned long long size = strtoull(line, NULL, 16);
        if (size == 0) break;
        if (skip(c, size + 2) < 0) return -1; /* data and its CRLF */
        total += (long long)size;
    }
    char *line;
    while ((line = read_line(c)) && *line) {} /* trailers */
    return line ? total : -1;
}

typedef struct {
    pthread_t thread;
    int64_t *latency, *ttfb; /* ns, measured requests only */
    size_t count, cap;
    long long bytes;
    long errors, non2xx;
} worker_t;

static void record(worker_t *w, int64_t latency, int64_t ttfb) {
    if (w->count == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 65536;
        w->latency = realloc(w->latency, w->cap * sizeof *w->latency);
        w->ttfb = realloc(w->ttfb, w->cap * sizeof *w->ttfb);
        if (!w->latency || !w->ttfb) die("realloc");
    }
    w->latency[w->count] = latency;
    w->ttfb[w->count++] = ttfb;
}

static void *work(void *arg) {
    worker_t *w = arg;
    conn_t c = {.fd = connect_unix(), .buf = malloc(BUF_SIZE)};
    if (!c.buf) die("malloc");
    for (;;) {
        if (max_requests && atomic_fetch_add(&issued, 1) >= max_requests) break;
        int64_t t0 = now_ns();
        if (!max_requests && t0 >= t_end) break;
        if (write(c.fd, request, request_len) != (ssize_t)request_len) die("write");
        c.first_byte = c.start < c.end ? t0 : 0; /* pipelined leftovers would be a bug: count as now */
        head_t h;
        long long size = read_head(&c, &h) < 0 ? -1 : read_body(&c, &h);
        int64_t t1 = now_ns();
        if (size < 0) {
            w->errors++;
            close(c.fd);
            c.fd = connect_unix();
            c.start = c.end = 0;
            continue;
        }
        if (h.status < 200 || h.status >= 300) w->non2xx++;
        if (t0 >= t_measure) {
            record(w, t1 - t0, c.first_byte - t0);
            w->bytes += size;
        }
    }
    close(c.fd);
    free(c.buf);
    return NULL;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(int64_t *sorted, size_t n, double p) {
    if (!n) return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return (double)sorted[i] / 1000.0;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int run_load(int conns) {
    worker_t *workers = calloc((size_t)conns, sizeof *workers);
    if (!workers) die("calloc");
    int64_t start = now_ns();
    t_measure = start + (int64_t)(warmup * 1e9);
    t_end = t_measure + (int64_t)(duration * 1e9);
    if (max_requests) t_measure = start; /* a fixed count is measured whole */
    double cpu0 = cpu_seconds();
    for (int i = 0; i < conns; i++)
        if (pthread_create(&workers[i].thread, NULL, work, &workers[i])) die("pthread_create");
    for (int i = 0; i < conns; i++) pthread_join(workers[i].thread, NULL);
    int64_t stop = now_ns();
    double cpu = cpu_seconds() - cpu0;

    size_t n = 0;
    long long bytes = 0;
    long errors = 0, non2xx = 0;
    for (int i = 0; i < conns; i++) n += workers[i].count;
    int64_t *lat = malloc((n ? n : 1) * sizeof *lat), *ttfb = malloc((n ? n : 1) * sizeof *ttfb);
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(lat + k, workers[i].latency, workers[i].count * sizeof *lat);
        memcpy(ttfb + k, workers[i].ttfb, workers[i].count * sizeof *ttfb);
        k += workers[i].count;
        bytes += workers[i].bytes;
        errors += workers[i].errors;
        non2xx += workers[i].non2xx;
    }
    qsort(lat, n, sizeof *lat, cmp64);
    qsort(ttfb, n, sizeof *ttfb, cmp64);
    double secs = (double)(stop - t_measure) / 1e9;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)lat[i];
    printf("{\"requests\": %zu, \"seconds\": %.6f, \"rps\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, "
           "\"p99_us\": %.1f, \"max_us\": %.1f, \"mean_us\": %.1f, \"ttfb_p50_us\": %.1f, "
           "\"ttfb_p99_us\": %.1f, \"bytes\": %lld, \"errors\": %ld, \"non2xx\": %ld, "
           "\"connections\": %d, \"loadgen_cpu_s\": %.3f, \"wall_s\": %.3f}\n",
           n, secs, secs > 0 ? (double)n / secs : 0, pct_us(lat, n, 50), pct_us(lat, n, 90),
           pct_us(lat, n, 99), n ? (double)lat[n - 1] / 1000 : 0, n ? sum / (double)n / 1000 : 0,
           pct_us(ttfb, n, 50), pct_us(ttfb, n, 99), bytes, errors, non2xx, conns, cpu,
           (double)(stop - start) / 1e9);
    return errors ? 1 : 0;
}

static int run_stream(void) {
    conn_t c = {.fd = connect_unix(), .buf = malloc(BUF_SIZE)};
    if (!c.buf) die("malloc");
    if (write(c.fd, request, request_len) != (ssize_t)request_len) die("write");
    printf("sent\n");
    fflush(stdout);
    head_t h;
    if (read_head(&c, &h) < 0) {
        fprintf(stderr, "loadgen: no answer head\n");
        return 1;
    }
    printf("head %d\n", h.status);
    fflush(stdout);
    if (h.status != 200 && h.status != 101) {
        read_body(&c, &h);
        return 1;
    }
    /* Hijacked: raw bytes until the daemon closes. Bytes read along with the head count. */
    long long bytes = (long long)(c.end - c.start);
    int64_t first = bytes ? now_ns() : 0, last = first;
    for (;;) {
        ssize_t n = read(c.fd, c.buf, BUF_SIZE);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        last = now_ns();
        if (!first) first = last;
        bytes += n;
    }
    double secs = (double)(last - first) / 1e9;
    printf("{\"bytes\": %lld, \"seconds\": %.6f, \"mb_per_s\": %.1f, \"status\": %d}\n", bytes, secs,
           secs > 0 ? (double)bytes / 1e6 / secs : 0, h.status);
    return 0;
}

int main(int argc, char **argv) {
    int conns = 1, stream = 0, opt;
    while ((opt = getopt(argc, argv, "c:d:n:w:m:s")) != -1) {
        switch (opt) {
        case 'c': conns = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'n': max_requests = atol(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'm': method = optarg; break;
        case 's': stream = 1; method = "POST"; break;
        default: fprintf(stderr, "usage: see the comment at the top of loadgen.c\n"); return 2;
        }
    }
    if (argc - optind != 2 || conns < 1 || (!stream && duration <= 0 && max_requests <= 0)) {
        fprintf(stderr, "usage: loadgen [-c N] [-d S | -n N] [-w S] [-m METHOD] SOCKET PATH | -s SOCKET PATH\n");
        return 2;
    }
    sock_path = argv[optind];
    req_path = argv[optind + 1];
    int n = snprintf(request, sizeof request, "%s %s HTTP/1.1\r\nHost: docker\r\n%s\r\n", method, req_path,
                     strcmp(method, "GET") ? "Content-Length: 0\r\n" : "");
    if (n <= 0 || (size_t)n >= sizeof request) return 2;
    request_len = (size_t)n;
    setvbuf(stdout, NULL, _IOLBF, 0);
    return stream ? run_stream() : run_load(conns);
}
