/* libstrophe (Debian's libstrophe-dev): logs in, sends the roster get from the connect handler
 * (no presence), and walks the result's <item/>s into a hash table keyed by JID (name,
 * subscription, ask and groups copied), which is "roster indexed". Plaintext + SASL PLAIN. */
#include "bench_common.h"
#include <strophe.h>

struct entry {
    char *jid, *name, *subscription, *ask;
    char **groups;
    size_t ngroups;
    struct entry *next;
};

static struct entry **table;
static size_t table_size, count;
static struct bench_args args;
static uint64_t t0, t1, t2;
static int done_ok;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void insert(struct entry *e) {
    size_t slot = bench_hash(e->jid) & (table_size - 1);
    for (struct entry *p = table[slot]; p; p = p->next) {
        if (!strcmp(p->jid, e->jid)) return; /* duplicate: keep the first */
    }
    e->next = table[slot];
    table[slot] = e;
    count++;
}

static int roster_result(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata) {
    xmpp_ctx_t *ctx = userdata;
    xmpp_stanza_t *query = xmpp_stanza_get_child_by_name(stanza, "query");
    table_size = 1024;
    while (table_size < (size_t)args.expected * 2) table_size <<= 1;
    table = calloc(table_size, sizeof *table);
    for (xmpp_stanza_t *item = query ? xmpp_stanza_get_children(query) : NULL; item; item = xmpp_stanza_get_next(item)) {
        const char *name = xmpp_stanza_get_name(item);
        if (!name || strcmp(name, "item")) continue;
        struct entry *e = calloc(1, sizeof *e);
        e->jid = dup_or_null(xmpp_stanza_get_attribute(item, "jid"));
        if (!e->jid) { free(e); continue; }
        e->name = dup_or_null(xmpp_stanza_get_attribute(item, "name"));
        e->subscription = dup_or_null(xmpp_stanza_get_attribute(item, "subscription"));
        e->ask = dup_or_null(xmpp_stanza_get_attribute(item, "ask"));
        for (xmpp_stanza_t *g = xmpp_stanza_get_children(item); g; g = xmpp_stanza_get_next(g)) {
            const char *gname = xmpp_stanza_get_name(g);
            if (!gname || strcmp(gname, "group")) continue;
            char *text = xmpp_stanza_get_text(g);
            e->groups = realloc(e->groups, (e->ngroups + 1) * sizeof *e->groups);
            e->groups[e->ngroups++] = strdup(text ? text : "");
            if (text) xmpp_free(ctx, text);
        }
        insert(e);
    }
    t2 = bench_now_us();
    done_ok = 1;
    xmpp_disconnect(conn);
    return 0;
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t status, int error, xmpp_stream_error_t *stream_error, void *userdata) {
    xmpp_ctx_t *ctx = userdata;
    (void)stream_error;
    if (status == XMPP_CONN_CONNECT) {
        t1 = bench_now_us();
        xmpp_id_handler_add(conn, roster_result, "rostget1", ctx);
        xmpp_stanza_t *iq = xmpp_iq_new(ctx, "get", "rostget1");
        xmpp_stanza_t *query = xmpp_stanza_new(ctx);
        xmpp_stanza_set_name(query, "query");
        xmpp_stanza_set_ns(query, XMPP_NS_ROSTER);
        xmpp_stanza_add_child(iq, query);
        xmpp_stanza_release(query);
        xmpp_send(conn, iq);
        xmpp_stanza_release(iq);
    } else {
        if (!done_ok) fprintf(stderr, "strophe_client: disconnected (error %d)\n", error);
        xmpp_stop(ctx);
    }
}

int main(int argc, char **argv) {
    args = bench_parse_args(argc, argv);
    long rss_base = bench_peak_rss_kb();
    xmpp_initialize();
    xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, NULL);
    xmpp_conn_t *conn = xmpp_conn_new(ctx);
    xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_DISABLE_TLS);
    char jid[512];
    snprintf(jid, sizeof jid, "%s/bench", args.jid);
    xmpp_conn_set_jid(conn, jid);
    xmpp_conn_set_pass(conn, args.password);
    t0 = bench_now_us();
    if (xmpp_connect_client(conn, args.host, (unsigned short)args.port, on_conn, ctx) != XMPP_EOK) {
        fprintf(stderr, "strophe_client: connect failed\n");
        return 1;
    }
    xmpp_run(ctx);
    if (!done_ok) return 1;
    long rss_peak = bench_peak_rss_kb();
    if ((long)count != args.expected) {
        fprintf(stderr, "strophe_client: %zu items, expected %ld\n", count, args.expected);
        return 1;
    }
    printf("RESULT items=%zu connect_us=%llu roster_us=%llu total_us=%llu rss_base_kb=%ld rss_peak_kb=%ld\n", count,
           (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1), (unsigned long long)(t2 - t0), rss_base, rss_peak);
    fflush(stdout);
    xmpp_conn_release(conn);
    xmpp_ctx_free(ctx);
    xmpp_shutdown();
    return 0;
}
