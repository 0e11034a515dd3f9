// A second translation unit that includes the wrapper too: the program only links if everything
// in xmpp_roster.hpp is inline (no duplicate symbols).
#include <xmpp_roster.hpp>

#include <string>

std::string second_tu_version();
int second_tu_error_code();

std::string second_tu_version() { return xmpp_roster::version(); }

int second_tu_error_code() {
    try {
        xmpp_roster::Config config("no localpart", "secret");
    } catch (const xmpp_roster::Error& e) {
        return static_cast<int>(e.code());
    }
    return -1;
}
