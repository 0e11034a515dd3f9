/* Shared by the C benchmark clients: arguments, clock, memory and the one result line the driver
 * reads. Every client is called as: CLIENT HOST PORT JID PASSWORD EXPECTED_ITEMS [PUSHES]
 * and prints, on success, one line:
 *   RESULT items=N connect_us=T1 roster_us=T2 total_us=T rss_base_kb=B rss_peak_kb=P [pushes=M pushes_us=T3]
 * total_us runs from just before the TCP connect to "roster indexed" (every item findable by JID).
 * rss_base_kb is the peak RSS before connecting (the process baseline), rss_peak_kb the peak at
 * the end. Exit status: 0 on success, 1 on failure (with a message on stderr). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline uint64_t bench_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline long bench_peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

struct bench_args {
    const char *host;
    int port;
    const char *jid;
    const char *password;
    long expected;
    long pushes;
};

static inline struct bench_args bench_parse_args(int argc, char **argv) {
    struct bench_args a;
    if (argc < 6) {
        fprintf(stderr, "usage: %s HOST PORT JID PASSWORD EXPECTED_ITEMS [PUSHES]\n", argv[0]);
        exit(2);
    }
    a.host = argv[1];
    a.port = atoi(argv[2]);
    a.jid = argv[3];
    a.password = argv[4];
    a.expected = atol(argv[5]);
    a.pushes = argc > 6 ? atol(argv[6]) : 0;
    return a;
}

/* FNV-1a, for the peers' hash tables. */
static inline uint64_t bench_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}
#endif
