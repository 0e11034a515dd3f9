/* A tiny consumer of the installed (or embedded) library: the header and the library it loads
 * agree on the version, and, under xmpp-test-server, it connects and fetches the roster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xmpp_roster.h>

int main(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", XMPP_ROSTER_VERSION_MAJOR, XMPP_ROSTER_VERSION_MINOR, XMPP_ROSTER_VERSION_PATCH);
    if (strcmp(want, xmpp_roster_version()) != 0) {
        fprintf(stderr, "header %s, library %s\n", want, xmpp_roster_version());
        return 1;
    }
    const char *host = getenv("XMPP_TEST_HOST");
    if (!host) {
        printf("consumer: xmpp-roster %s (offline)\n", xmpp_roster_version());
        return 0;
    }
    xmpp_roster_config *cfg = NULL;
    xmpp_roster_client *client = NULL;
    xmpp_roster_snapshot *snap = NULL;
    int ok = xmpp_roster_config_new("juliet@localhost", "secret", &cfg) == XMPP_ROSTER_OK &&
             xmpp_roster_config_set_server(cfg, host, (uint16_t)atoi(getenv("XMPP_TEST_PORT"))) == XMPP_ROSTER_OK &&
             xmpp_roster_config_set_ca_file(cfg, getenv("XMPP_TEST_CA_FILE")) == XMPP_ROSTER_OK &&
             xmpp_roster_client_new(cfg, &client) == XMPP_ROSTER_OK && xmpp_roster_client_connect(client) == XMPP_ROSTER_OK &&
             xmpp_roster_client_fetch(client, NULL) == XMPP_ROSTER_OK && xmpp_roster_client_snapshot(client, &snap) == XMPP_ROSTER_OK;
    if (!ok) {
        char msg[256];
        xmpp_roster_last_error(msg, sizeof msg);
        fprintf(stderr, "consumer: %s\n", msg);
    } else {
        printf("consumer: xmpp-roster %s, roster of %zu items\n", xmpp_roster_version(), xmpp_roster_snapshot_len(snap));
    }
    xmpp_roster_snapshot_free(snap);
    xmpp_roster_client_free(client);
    xmpp_roster_config_free(cfg);
    return ok ? 0 : 1;
}
