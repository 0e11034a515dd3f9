/* gloox (Debian's libgloox-dev) with its own RosterManager: logs in, RosterManager fetches the
 * roster and fills its map (JID -> RosterItem), which is "roster indexed". gloox sends initial
 * presence from Client::rosterFilled(); this client overrides that hook so no presence is ever
 * sent (a bench account's presence would fan out to every contact). Plaintext + SASL PLAIN. */
#include "bench_common.h"
#include <gloox/client.h>
#include <gloox/connectionlistener.h>
#include <gloox/rostermanager.h>

using namespace gloox;

static struct bench_args args;
static uint64_t t0, t1, t2;
static size_t count;
static bool done_ok;

class BenchClient : public Client, public ConnectionListener {
  public:
    BenchClient(const JID &jid, const std::string &password, int port) : Client(jid, password, port) {
        registerConnectionListener(this);
    }
    void onConnect() override {}
    void onDisconnect(ConnectionError e) override {
        if (!done_ok) fprintf(stderr, "gloox_client: disconnected (%d)\n", (int)e);
    }
    bool onTLSConnect(const CertInfo &) override { return true; }
    void onResourceBind(const std::string &) override { t1 = bench_now_us(); }

  protected:
    /* Called by RosterManager once the roster result is stored. The base class would send
       initial presence here: deliberately not called. */
    void rosterFilled() override {
        t2 = bench_now_us();
        count = rosterManager()->roster()->size();
        done_ok = true;
        disconnect();
    }
};

int main(int argc, char **argv) {
    args = bench_parse_args(argc, argv);
    long rss_base = bench_peak_rss_kb();
    std::string jid = std::string(args.jid) + "/bench";
    BenchClient client{JID(jid), args.password, args.port};
    client.setServer(args.host);
    client.setTls(TLSDisabled);
    client.setCompression(false);
    client.setSASLMechanisms(SaslMechPlain);
    client.presence().setPresence(Presence::Unavailable); /* belt and braces */
    t0 = bench_now_us();
    client.connect(true); /* blocks until disconnect() */
    if (!done_ok) return 1;
    long rss_peak = bench_peak_rss_kb();
    if ((long)count != args.expected) {
        fprintf(stderr, "gloox_client: %zu items, expected %ld\n", count, args.expected);
        return 1;
    }
    printf("RESULT items=%zu connect_us=%llu roster_us=%llu total_us=%llu rss_base_kb=%ld rss_peak_kb=%ld\n", count,
           (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1), (unsigned long long)(t2 - t0), rss_base, rss_peak);
    fflush(stdout);
    return 0;
}
