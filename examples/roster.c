/* roster.c: connect, fetch and print the roster, add and remove a contact, then watch roster
 * pushes and presence for a few seconds.
 *
 *   roster_c JID PASSWORD [HOST [PORT [CA_FILE [SECONDS]]]]
 *
 * HOST/PORT default to the JID's domain and 5222 (STARTTLS required); CA_FILE adds a trusted
 * certificate (e.g. a test server's self-signed one). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xmpp_roster.h>

static const char *subscription_name(uint32_t s) {
    switch (s) {
    case XMPP_ROSTER_SUBSCRIPTION_TO: return "to";
    case XMPP_ROSTER_SUBSCRIPTION_FROM: return "from";
    case XMPP_ROSTER_SUBSCRIPTION_BOTH: return "both";
    default: return "none";
    }
}

static void print_item(const char *prefix, const xmpp_roster_item *item) {
    const char *name = xmpp_roster_item_name(item);
    printf("%s%s", prefix, xmpp_roster_item_jid(item));
    if (name) printf(" \"%s\"", name);
    printf(" [%s%s]", subscription_name(xmpp_roster_item_subscription(item)), xmpp_roster_item_ask(item) ? ", asking" : "");
    for (size_t g = 0; g < xmpp_roster_item_group_count(item); g++) printf(" #%s", xmpp_roster_item_group(item, g));
    printf("\n");
}

static int on_roster_change(void *userdata, uint32_t change, const xmpp_roster_item *item, const char *version) {
    static const char *names[] = {"added", "updated", "removed"};
    (void)userdata;
    printf("push (version %s): %s ", version ? version : "-", change <= 2 ? names[change] : "?");
    print_item("", item);
    return 0;
}

static int on_presence(void *userdata, const char *from, bool available, uint32_t show, const char *status, int8_t priority) {
    (void)userdata;
    printf("presence: %s %s (show %" PRIu32 ", priority %d)%s%s\n", from, available ? "available" : "unavailable", show, priority,
           status ? ": " : "", status ? status : "");
    return 0;
}

static int on_subscription(void *userdata, uint32_t kind, const char *from, const char *status) {
    static const char *names[] = {"subscribe", "subscribed", "unsubscribe", "unsubscribed"};
    (void)userdata;
    (void)status;
    printf("subscription: %s from %s\n", kind <= 3 ? names[kind] : "?", from);
    return 0;
}

static int print_roster(xmpp_roster_client *client) {
    xmpp_roster_snapshot *snap = NULL;
    if (xmpp_roster_client_snapshot(client, &snap) != XMPP_ROSTER_OK) return 0;
    const char *version = xmpp_roster_snapshot_version(snap);
    printf("roster (%zu items, version %s):\n", xmpp_roster_snapshot_len(snap), version ? version : "-");
    for (size_t i = 0; i < xmpp_roster_snapshot_len(snap); i++) print_item("  ", xmpp_roster_snapshot_item(snap, i));
    xmpp_roster_snapshot_free(snap);
    return 1;
}

#define TRY(call)                                                                    \
    do {                                                                             \
        xmpp_roster_result rc_ = (call);                                             \
        if (rc_ != XMPP_ROSTER_OK) {                                                 \
            char msg_[512];                                                          \
            xmpp_roster_last_error(msg_, sizeof msg_);                               \
            fprintf(stderr, "%s failed: %s: %s\n", #call, xmpp_roster_result_str(rc_), msg_); \
            goto done;                                                               \
        }                                                                            \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s JID PASSWORD [HOST [PORT [CA_FILE [SECONDS]]]]\n", argv[0]);
        return 2;
    }
    const char *host = argc > 3 ? argv[3] : NULL;
    uint16_t port = argc > 4 ? (uint16_t)atoi(argv[4]) : 0;
    const char *ca_file = argc > 5 ? argv[5] : NULL;
    int seconds = argc > 6 ? atoi(argv[6]) : 3;
    int status = 1;
    xmpp_roster_config *config = NULL;
    xmpp_roster_client *client = NULL;

    printf("xmpp-roster %s\n", xmpp_roster_version());
    TRY(xmpp_roster_config_new(argv[1], argv[2], &config));
    TRY(xmpp_roster_config_set_server(config, host, port));
    TRY(xmpp_roster_config_set_ca_file(config, ca_file));
    TRY(xmpp_roster_config_set_timeout_ms(config, 10000));
    TRY(xmpp_roster_client_new(config, &client));
    TRY(xmpp_roster_client_on_roster_change(client, on_roster_change, NULL, NULL));
    TRY(xmpp_roster_client_on_presence(client, on_presence, NULL, NULL));
    TRY(xmpp_roster_client_on_subscription(client, on_subscription, NULL, NULL));

    TRY(xmpp_roster_client_connect(client));
    char jid[256];
    xmpp_roster_client_bound_jid(client, jid, sizeof jid);
    printf("connected as %s\n", jid);
    TRY(xmpp_roster_client_fetch(client, NULL));
    if (!print_roster(client)) goto done;

    /* A contact on the account's own domain, so the example works on any server. */
    char contact[300];
    const char *at = strchr(argv[1], '@');
    snprintf(contact, sizeof contact, "xmpp-roster-example@%.*s", (int)strcspn(at ? at + 1 : "localhost", "/"), at ? at + 1 : "localhost");
    const char *groups[] = {"Examples"};
    TRY(xmpp_roster_client_set_item(client, contact, "Example contact", groups, 1));
    if (!print_roster(client)) goto done;
    TRY(xmpp_roster_client_remove_item(client, contact));
    if (!print_roster(client)) goto done;

    TRY(xmpp_roster_client_send_presence(client, true, XMPP_ROSTER_SHOW_AVAILABLE, NULL, 0));
    printf("watching for %d s...\n", seconds);
    for (int i = 0; i < seconds * 4; i++) TRY(xmpp_roster_client_poll(client, 250, NULL));
    TRY(xmpp_roster_client_disconnect(client));
    status = 0;
done:
    xmpp_roster_client_free(client);
    xmpp_roster_config_free(config);
    return status;
}
