/* xmpp-roster through its C API: connect, fetch, snapshot (the roster indexed: the snapshot's
 * xmpp_roster_snapshot_find is an O(1) lookup by JID). With PUSHES > 0 it then applies that many
 * roster pushes (each answered by the library) through xmpp_roster_client_poll and reports the
 * time from the end of the fetch to the last push applied. Plaintext + SASL PLAIN, like every
 * client in the comparison, so TLS cost is out of the picture. */
#include "bench_common.h"
#include <xmpp_roster.h>

static long pushes_seen;

static int on_change(void *userdata, uint32_t change, const xmpp_roster_item *item, const char *version) {
    (void)userdata; (void)change; (void)item; (void)version;
    pushes_seen++;
    return 0;
}

static int fail(const char *what, xmpp_roster_result rc) {
    char msg[512];
    xmpp_roster_last_error(msg, sizeof msg);
    fprintf(stderr, "xr_client: %s: %s (%s)\n", what, xmpp_roster_result_str(rc), msg);
    return 1;
}

int main(int argc, char **argv) {
    struct bench_args a = bench_parse_args(argc, argv);
    long rss_base = bench_peak_rss_kb();
    xmpp_roster_config *cfg = NULL;
    xmpp_roster_client *client = NULL;
    xmpp_roster_result rc;
    if ((rc = xmpp_roster_config_new(a.jid, a.password, &cfg))) return fail("config", rc);
    xmpp_roster_config_set_server(cfg, a.host, (uint16_t)a.port);
    xmpp_roster_config_set_tls(cfg, XMPP_ROSTER_TLS_PLAINTEXT);
    xmpp_roster_config_set_sasl_mechanisms(cfg, XMPP_ROSTER_SASL_PLAIN);
    xmpp_roster_config_set_resource(cfg, "bench");
    xmpp_roster_config_set_timeout_ms(cfg, 300000);
    xmpp_roster_config_set_max_stanza_size(cfg, (size_t)256 << 20);
    if ((rc = xmpp_roster_client_new(cfg, &client))) return fail("client", rc);
    xmpp_roster_config_free(cfg);
    xmpp_roster_client_on_roster_change(client, on_change, NULL, NULL);

    uint64_t t0 = bench_now_us();
    if ((rc = xmpp_roster_client_connect(client))) return fail("connect", rc);
    uint64_t t1 = bench_now_us();
    if ((rc = xmpp_roster_client_fetch(client, NULL))) return fail("fetch", rc);
    xmpp_roster_snapshot *snap = NULL;
    if ((rc = xmpp_roster_client_snapshot(client, &snap))) return fail("snapshot", rc);
    uint64_t t2 = bench_now_us();

    size_t n = xmpp_roster_snapshot_len(snap);
    /* Correctness: the last item is findable by its JID. */
    if (n > 0 && !xmpp_roster_snapshot_find(snap, xmpp_roster_item_jid(xmpp_roster_snapshot_item(snap, n - 1)))) {
        fprintf(stderr, "xr_client: lookup failed\n");
        return 1;
    }
    xmpp_roster_snapshot_free(snap);
    if ((long)n != a.expected) {
        fprintf(stderr, "xr_client: %zu items, expected %ld\n", n, a.expected);
        return 1;
    }
    long rss_peak = bench_peak_rss_kb();

    uint64_t t3 = t2;
    if (a.pushes > 0) {
        uint64_t deadline = t2 + 300u * 1000000u;
        while (pushes_seen < a.pushes && bench_now_us() < deadline) {
            if ((rc = xmpp_roster_client_poll(client, 1000, NULL))) return fail("poll", rc);
        }
        t3 = bench_now_us();
        if (pushes_seen < a.pushes) {
            fprintf(stderr, "xr_client: %ld of %ld pushes applied\n", pushes_seen, a.pushes);
            return 1;
        }
    }
    printf("RESULT items=%zu connect_us=%llu roster_us=%llu total_us=%llu rss_base_kb=%ld rss_peak_kb=%ld",
           n, (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1), (unsigned long long)(t2 - t0), rss_base, rss_peak);
    if (a.pushes > 0) printf(" pushes=%ld pushes_us=%llu", pushes_seen, (unsigned long long)(t3 - t2));
    printf("\n");
    fflush(stdout);
    xmpp_roster_client_disconnect(client);
    xmpp_roster_client_free(client);
    return 0;
}
