// roster.cpp: the C++ wrapper's version of roster.c: connect, fetch and print the roster, add and
// remove a contact, then watch pushes and presence for a few seconds.
//
//   roster_cpp JID PASSWORD [HOST [PORT [CA_FILE [SECONDS]]]]
#include <xmpp_roster.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

namespace xr = xmpp_roster;

static const char* subscription_name(xr::Subscription s) {
    switch (s) {
    case xr::Subscription::To: return "to";
    case xr::Subscription::From: return "from";
    case xr::Subscription::Both: return "both";
    default: return "none";
    }
}

static void print_item(const std::string& prefix, const xr::Item& item) {
    std::cout << prefix << item.jid();
    if (auto name = item.name()) std::cout << " \"" << *name << "\"";
    std::cout << " [" << subscription_name(item.subscription()) << (item.ask() ? ", asking" : "") << "]";
    for (const std::string& g : item.groups()) std::cout << " #" << g;
    std::cout << "\n";
}

static void print_roster(xr::Client& client) {
    xr::Snapshot snap = client.snapshot();
    std::cout << "roster (" << snap.size() << " items, version " << snap.version().value_or("-") << "):\n";
    for (const xr::Item& item : snap) print_item("  ", item);
}

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: " << argv[0] << " JID PASSWORD [HOST [PORT [CA_FILE [SECONDS]]]]\n";
        return 2;
    }
    try {
        std::cout << "xmpp-roster " << xr::version() << "\n";
        xr::Config config(argv[1], argv[2]);
        if (argc > 3) config.server(argv[3], argc > 4 ? static_cast<std::uint16_t>(std::atoi(argv[4])) : 0);
        if (argc > 5) config.ca_file(argv[5]);
        config.timeout(std::chrono::seconds(10));
        int seconds = argc > 6 ? std::atoi(argv[6]) : 3;

        xr::Client client(config);
        client.on_roster_change([](xr::Change change, const xr::Item& item, std::optional<std::string_view> version) {
            static const char* names[] = {"added", "updated", "removed"};
            std::cout << "push (version " << version.value_or("-") << "): " << names[static_cast<int>(change)] << " ";
            print_item("", item);
        });
        client.on_presence([](const xr::Presence& p) {
            std::cout << "presence: " << p.from << (p.available ? " available" : " unavailable") << "\n";
        });
        client.on_subscription([](xr::SubscriptionKind kind, std::string_view from, std::optional<std::string_view>) {
            std::cout << "subscription " << static_cast<int>(kind) << " from " << from << "\n";
        });

        client.connect();
        std::cout << "connected as " << client.bound_jid() << "\n";
        client.fetch();
        print_roster(client);

        std::string account = argv[1];
        std::string domain = account.substr(account.find('@') + 1);
        domain = domain.substr(0, domain.find('/'));
        std::string contact = "xmpp-roster-example@" + domain;
        client.set_item(contact, "Example contact", {"Examples"});
        print_roster(client);
        client.remove_item(contact);
        print_roster(client);

        client.send_presence(true);
        std::cout << "watching for " << seconds << " s...\n";
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        while (std::chrono::steady_clock::now() < until) client.poll(std::chrono::milliseconds(250));
        client.disconnect();
        return 0;
    } catch (const xr::Error& e) {
        std::cerr << "error: " << e.code_name() << ": " << e.what();
        if (!e.condition().empty()) std::cerr << " (condition " << e.condition() << ")";
        std::cerr << "\n";
        return 1;
    }
}
