// The C++ wrapper from an installed (or embedded) package.
#include <xmpp_roster.hpp>

#include <cstdlib>
#include <iostream>

int main() {
    const char* host = std::getenv("XMPP_TEST_HOST");
    try {
        if (!host) {
            xmpp_roster::Config config("juliet@localhost", "secret");
            xmpp_roster::Client client(config);
            std::cout << "consumer++: xmpp-roster " << xmpp_roster::version() << " (offline), " << client.snapshot().size() << " items\n";
            return 0;
        }
        xmpp_roster::Config config("juliet@localhost", "secret");
        config.server(host, static_cast<std::uint16_t>(std::atoi(std::getenv("XMPP_TEST_PORT")))).ca_file(std::getenv("XMPP_TEST_CA_FILE"));
        xmpp_roster::Client client(config);
        client.connect();
        client.fetch();
        std::cout << "consumer++: xmpp-roster " << xmpp_roster::version() << ", roster of " << client.snapshot().size() << " items\n";
        return 0;
    } catch (const xmpp_roster::Error& e) {
        std::cerr << "consumer++: " << e.what() << "\n";
        return 1;
    }
}
