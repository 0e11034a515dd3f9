// xmpp_roster.hpp: header-only C++17 wrapper over the xmpp-roster C API (xmpp_roster.h).
//
//   xmpp_roster::Config cfg("juliet@example.com", "secret");
//   xmpp_roster::Client client(cfg);
//   client.on_roster_change([](xmpp_roster::Change c, const xmpp_roster::Item& item, auto version) { ... });
//   client.connect();
//   client.fetch();
//   for (const xmpp_roster::Item& item : client.snapshot()) std::cout << item.jid() << "\n";
//
// Rules (see docs/C-API.md for the C contract underneath):
// - Config, Client, Snapshot and Feed own their C object through std::unique_ptr with the C
//   `_free` as deleter; they are move-only. Item is a non-owning view into a Snapshot (valid while the
//   Snapshot lives) or into a callback's arguments (valid during the callback).
// - Every failure throws xmpp_roster::Error (a std::runtime_error) carrying the C result code, the
//   condition (stanza/SASL/stream) and the stanza error type.
// - Callbacks are std::function. They run only on the thread inside a blocking call of their
//   Client (connect, fetch, set_item, poll, ...). An exception thrown by a callback never crosses
//   into the library: it is caught, the blocking call is aborted, and the exception is rethrown
//   from that call. Calling the same Client from a callback throws Error with code
//   XMPP_ROSTER_ERR_BUSY; only interrupt() works there (and from any other thread).
// - A Feed hands the items of one Client::fetch(Feed&) to a second thread in batches: the fetch
//   runs on one thread, and one other thread takes the batches with Feed::next (and may call
//   Feed::complete). Destroy the Feed only once neither runs. Feed::next is the only call on a
//   Feed that waits, and it never touches the Client.
// - Strings go in as std::string_view (must not contain NUL) and come out as std::string.
#ifndef XMPP_ROSTER_HPP
#define XMPP_ROSTER_HPP

#include <xmpp_roster.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xmpp_roster {

/// How the connection is secured.
enum class Tls : std::uint32_t {
    StartTls = XMPP_ROSTER_TLS_STARTTLS,
    Direct = XMPP_ROSTER_TLS_DIRECT,
    Plaintext = XMPP_ROSTER_TLS_PLAINTEXT,
};

/// SASL mechanism bits for Config::sasl_mechanisms (OR them together).
namespace sasl {
inline constexpr std::uint32_t scram_sha_256 = XMPP_ROSTER_SASL_SCRAM_SHA_256;
inline constexpr std::uint32_t scram_sha_1 = XMPP_ROSTER_SASL_SCRAM_SHA_1;
inline constexpr std::uint32_t plain = XMPP_ROSTER_SASL_PLAIN;
}  // namespace sasl

enum class Subscription : std::uint32_t {
    None = XMPP_ROSTER_SUBSCRIPTION_NONE,
    To = XMPP_ROSTER_SUBSCRIPTION_TO,
    From = XMPP_ROSTER_SUBSCRIPTION_FROM,
    Both = XMPP_ROSTER_SUBSCRIPTION_BOTH,
};

enum class Change : std::uint32_t {
    Added = XMPP_ROSTER_CHANGE_ADDED,
    Updated = XMPP_ROSTER_CHANGE_UPDATED,
    Removed = XMPP_ROSTER_CHANGE_REMOVED,
};

enum class SubscriptionKind : std::uint32_t {
    Subscribe = XMPP_ROSTER_SUBSCRIBE,
    Subscribed = XMPP_ROSTER_SUBSCRIBED,
    Unsubscribe = XMPP_ROSTER_UNSUBSCRIBE,
    Unsubscribed = XMPP_ROSTER_UNSUBSCRIBED,
};

enum class Show : std::uint32_t {
    Available = XMPP_ROSTER_SHOW_AVAILABLE,
    Away = XMPP_ROSTER_SHOW_AWAY,
    Chat = XMPP_ROSTER_SHOW_CHAT,
    Dnd = XMPP_ROSTER_SHOW_DND,
    Xa = XMPP_ROSTER_SHOW_XA,
};

/// A failed call: the C result code, the message, and for stanza/auth/stream errors the condition
/// (e.g. "item-not-found"), the server's human-readable text (if it sent one) and, for stanza
/// errors, the error type (e.g. "cancel").
class Error : public std::runtime_error {
public:
    Error(xmpp_roster_result code, const std::string& message, std::string condition = {}, std::string error_type = {},
          std::string text = {})
        : std::runtime_error(message), code_(code), condition_(std::move(condition)), error_type_(std::move(error_type)),
          text_(std::move(text)) {}

    xmpp_roster_result code() const noexcept { return code_; }
    const std::string& condition() const noexcept { return condition_; }
    const std::string& error_type() const noexcept { return error_type_; }
    /// The error's `<text/>` alone (xmpp_roster_last_error_text); empty if none.
    const std::string& text() const noexcept { return text_; }
    /// The code's static name, e.g. "stanza error".
    const char* code_name() const noexcept { return xmpp_roster_result_str(code_); }

private:
    xmpp_roster_result code_;
    std::string condition_;
    std::string error_type_;
    std::string text_;
};

/// The version of the loaded library, e.g. "0.1.0".
inline std::string version() { return std::string(xmpp_roster_version()); }

namespace detail {

inline std::string read_snprintf(std::size_t (*fn)(char*, std::size_t)) {
    std::size_t n = fn(nullptr, 0);
    std::vector<char> buf(n + 1);
    fn(buf.data(), buf.size());
    return std::string(buf.data(), n);
}

/// Throws the calling thread's last error (recorded by the C call that returned `code`).
[[noreturn]] inline void throw_last_error(xmpp_roster_result code) {
    std::string message = read_snprintf(xmpp_roster_last_error);
    if (message.empty()) message = xmpp_roster_result_str(code);
    throw Error(code, message, read_snprintf(xmpp_roster_last_error_condition), read_snprintf(xmpp_roster_last_error_type),
                read_snprintf(xmpp_roster_last_error_text));
}

inline void check(xmpp_roster_result code) {
    if (code != XMPP_ROSTER_OK) throw_last_error(code);
}

/// A NUL-terminated copy of `s`; NUL inside `s` would silently cut it short in C, so refuse it.
inline std::string c_string(std::string_view s, const char* what) {
    if (s.find('\0') != std::string_view::npos)
        throw Error(XMPP_ROSTER_ERR_INVALID_ARGUMENT, std::string(what) + " contains a NUL character");
    return std::string(s);
}

inline std::optional<std::string> c_string(const std::optional<std::string_view>& s, const char* what) {
    if (!s) return std::nullopt;
    return c_string(*s, what);
}

inline const char* ptr(const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; }

/// A C string from the library as std::string; NULL (e.g. a null Item view) gives "".
inline std::string str(const char* s) { return s ? std::string(s) : std::string(); }

inline std::optional<std::string_view> opt_view(const char* s) {
    if (s == nullptr) return std::nullopt;
    return std::string_view(s);
}

/// A wait for the C API: negative is 0, longer than UINT32_MAX ms is UINT32_MAX ms.
inline std::uint32_t timeout_ms(std::chrono::milliseconds timeout) {
    auto ms = timeout.count();
    return static_cast<std::uint32_t>(ms < 0 ? 0 : (ms > static_cast<long long>(UINT32_MAX) ? UINT32_MAX : ms));
}

struct ConfigDeleter {
    void operator()(xmpp_roster_config* p) const noexcept { xmpp_roster_config_free(p); }
};
struct ClientDeleter {
    void operator()(xmpp_roster_client* p) const noexcept { xmpp_roster_client_free(p); }
};
struct SnapshotDeleter {
    void operator()(xmpp_roster_snapshot* p) const noexcept { xmpp_roster_snapshot_free(p); }
};
struct FeedDeleter {
    void operator()(xmpp_roster_feed* p) const noexcept { xmpp_roster_feed_free(p); }
};

}  // namespace detail

/// A borrowed roster item: valid while the Snapshot it came from lives (or, in a roster-change
/// callback, during the callback). Cheap to copy.
class Item {
public:
    explicit Item(const xmpp_roster_item* item) noexcept : item_(item) {}

    /// False for a null view (e.g. Snapshot::operator[] out of range).
    explicit operator bool() const noexcept { return item_ != nullptr; }

    /// The contact's bare JID (normalised: lower-case local and domain parts).
    std::string jid() const { return detail::str(xmpp_roster_item_jid(item_)); }
    /// The name the user gave the contact, if any.
    std::optional<std::string> name() const {
        const char* n = xmpp_roster_item_name(item_);
        if (n == nullptr) return std::nullopt;
        return std::string(n);
    }
    Subscription subscription() const noexcept { return static_cast<Subscription>(xmpp_roster_item_subscription(item_)); }
    /// True while a subscription request to the contact is pending.
    bool ask() const noexcept { return xmpp_roster_item_ask(item_); }
    /// True when the user pre-approved the contact's subscription.
    bool approved() const noexcept { return xmpp_roster_item_approved(item_); }
    std::size_t group_count() const noexcept { return xmpp_roster_item_group_count(item_); }
    std::vector<std::string> groups() const {
        std::vector<std::string> out;
        std::size_t n = group_count();
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) out.push_back(detail::str(xmpp_roster_item_group(item_, i)));
        return out;
    }
    const xmpp_roster_item* get() const noexcept { return item_; }

private:
    const xmpp_roster_item* item_;
};

/// An immutable copy of the roster; independent of the Client (outlives it, ignores later changes).
class Snapshot {
public:
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = Item;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = Item;

        iterator(const xmpp_roster_snapshot* s, std::size_t i) noexcept : s_(s), i_(i) {}
        Item operator*() const noexcept { return Item(xmpp_roster_snapshot_item(s_, i_)); }
        iterator& operator++() noexcept { ++i_; return *this; }
        iterator operator++(int) noexcept { iterator old = *this; ++i_; return old; }
        bool operator==(const iterator& o) const noexcept { return s_ == o.s_ && i_ == o.i_; }
        bool operator!=(const iterator& o) const noexcept { return !(*this == o); }

    private:
        const xmpp_roster_snapshot* s_;
        std::size_t i_;
    };

    /// Rebuilds a snapshot from export_data() of an earlier one (e.g. saved to disk) and the
    /// roster version it was at. Throws Error (INVALID_ARGUMENT) for malformed data.
    static Snapshot import(std::string_view data, std::optional<std::string_view> version = std::nullopt) {
        auto v = detail::c_string(version, "version");
        xmpp_roster_snapshot* raw = nullptr;
        detail::check(xmpp_roster_snapshot_import(reinterpret_cast<const std::uint8_t*>(data.data()), data.size(), detail::ptr(v), &raw));
        return Snapshot(raw);
    }

    /// Takes ownership of a snapshot from xmpp_roster_client_snapshot.
    explicit Snapshot(xmpp_roster_snapshot* owned) noexcept : snap_(owned) {}

    std::size_t size() const noexcept { return xmpp_roster_snapshot_len(snap_.get()); }
    bool empty() const noexcept { return size() == 0; }
    /// The item at `index` (unchecked against size(): a bad index gives a null view).
    Item operator[](std::size_t index) const noexcept { return Item(xmpp_roster_snapshot_item(snap_.get(), index)); }
    Item at(std::size_t index) const {
        const xmpp_roster_item* item = xmpp_roster_snapshot_item(snap_.get(), index);
        if (item == nullptr) throw std::out_of_range("xmpp_roster::Snapshot::at: index out of range");
        return Item(item);
    }
    /// The item for `jid`, or nullopt when absent. Throws Error for a malformed JID.
    std::optional<Item> find(std::string_view jid) const {
        std::string j = detail::c_string(jid, "jid");
        const xmpp_roster_item* item = xmpp_roster_snapshot_find(snap_.get(), j.c_str());
        if (item != nullptr) return Item(item);
        xmpp_roster_result code = xmpp_roster_last_error_code();
        if (code != XMPP_ROSTER_ERR_NOT_FOUND) detail::throw_last_error(code);
        return std::nullopt;
    }
    /// The roster version the server reported, if any.
    std::optional<std::string> version() const {
        const char* v = xmpp_roster_snapshot_version(snap_.get());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
    }
    /// The packed export buffer (see docs/C-API.md), valid while this Snapshot lives.
    std::string_view export_data() const {
        const std::uint8_t* data = nullptr;
        std::size_t len = 0;
        detail::check(xmpp_roster_snapshot_export(snap_.get(), &data, &len));
        return std::string_view(reinterpret_cast<const char*>(data), len);
    }
    iterator begin() const noexcept { return iterator(snap_.get(), 0); }
    iterator end() const noexcept { return iterator(snap_.get(), size()); }
    const xmpp_roster_snapshot* get() const noexcept { return snap_.get(); }

private:
    std::unique_ptr<xmpp_roster_snapshot, detail::SnapshotDeleter> snap_;
};

/// The items of one fetch, handed to a second thread in batches while Client::fetch(Feed&) runs
/// (xmpp_roster_feed). One Feed serves one fetch. Each batch is laid out like
/// Snapshot::export_data() (export format 3, docs/C-API.md) and holds `batch_items` items (the
/// last one may hold fewer). See the file comment for threads.
///
///   xmpp_roster::Feed feed(1000);
///   std::thread consumer([&] { while (auto batch = feed.next(std::chrono::seconds(30))) use(*batch); });
///   bool unchanged = client.fetch(feed);  // ends the feed, also when it throws
///   consumer.join();
///   if (!feed.complete()) { /* unchanged, failed, or a JID listed twice: use client.snapshot() */ }
class Feed {
public:
    /// Throws Error with XMPP_ROSTER_ERR_INVALID_ARGUMENT when `batch_items` is 0.
    explicit Feed(std::size_t batch_items) {
        xmpp_roster_feed* raw = nullptr;
        detail::check(xmpp_roster_feed_new(batch_items, &raw));
        feed_.reset(raw);
    }

    /// The next batch, waiting up to `timeout` for one; nullopt once the fetch has returned and
    /// every batch was taken (and on every call after that). The view points into the Feed and is
    /// valid until the next call of next() or the Feed's destruction. A Feed no fetch has started
    /// yet is waited on like a running one. Throws Error with XMPP_ROSTER_ERR_TIMEOUT when neither
    /// a batch nor the end came within `timeout`: nothing is lost, call again (a consumer that
    /// must be able to stop although the fetch never starts waits in slices and catches it).
    std::optional<std::string_view> next(std::chrono::milliseconds timeout) {
        const std::uint8_t* data = nullptr;
        std::size_t len = 0;
        detail::check(xmpp_roster_feed_next(feed_.get(), detail::timeout_ms(timeout), &data, &len));
        if (data == nullptr) return std::nullopt;
        return std::string_view(reinterpret_cast<const char*>(data), len);
    }
    /// True once the feed has ended and the batches it handed out are exactly the new roster, in
    /// the order of Client::snapshot(). False before that, after a failed fetch, for an
    /// unchanged (versioned) fetch, and when the server listed a JID twice: then use
    /// Client::snapshot() instead.
    bool complete() const noexcept { return xmpp_roster_feed_complete(feed_.get()); }
    xmpp_roster_feed* get() const noexcept { return feed_.get(); }

private:
    std::unique_ptr<xmpp_roster_feed, detail::FeedDeleter> feed_;
};

/// Connection settings. Setters return *this for chaining; they throw Error on bad values.
class Config {
public:
    Config(std::string_view jid, std::string_view password) {
        std::string j = detail::c_string(jid, "jid");
        std::string p = detail::c_string(password, "password");
        xmpp_roster_config* raw = nullptr;
        detail::check(xmpp_roster_config_new(j.c_str(), p.c_str(), &raw));
        config_.reset(raw);
    }

    /// Connect to `host` (nullopt: the JID's domain) on `port` (0: the TLS mode's default).
    Config& server(std::optional<std::string_view> host, std::uint16_t port = 0) {
        auto h = detail::c_string(host, "host");
        detail::check(xmpp_roster_config_set_server(config_.get(), detail::ptr(h), port));
        return *this;
    }
    Config& tls(Tls mode) {
        detail::check(xmpp_roster_config_set_tls(config_.get(), static_cast<std::uint32_t>(mode)));
        return *this;
    }
    /// Also trust the PEM certificates in this file (nullopt: system roots only).
    Config& ca_file(std::optional<std::string_view> path) {
        auto p = detail::c_string(path, "path");
        detail::check(xmpp_roster_config_set_ca_file(config_.get(), detail::ptr(p)));
        return *this;
    }
    Config& tls_server_name(std::optional<std::string_view> name) {
        auto n = detail::c_string(name, "name");
        detail::check(xmpp_roster_config_set_tls_server_name(config_.get(), detail::ptr(n)));
        return *this;
    }
    /// FOR TESTS ONLY: accept any server certificate.
    Config& danger_accept_invalid_certs(bool accept) {
        detail::check(xmpp_roster_config_set_danger_accept_invalid_certs(config_.get(), accept));
        return *this;
    }
    Config& timeout(std::chrono::milliseconds ms) {
        if (ms.count() <= 0 || ms.count() > static_cast<long long>(UINT32_MAX))
            throw Error(XMPP_ROSTER_ERR_INVALID_ARGUMENT, "timeout must be between 1 ms and UINT32_MAX ms");
        detail::check(xmpp_roster_config_set_timeout_ms(config_.get(), static_cast<std::uint32_t>(ms.count())));
        return *this;
    }
    /// The resource to bind (nullopt: the server assigns one).
    Config& resource(std::optional<std::string_view> resource) {
        auto r = detail::c_string(resource, "resource");
        detail::check(xmpp_roster_config_set_resource(config_.get(), detail::ptr(r)));
        return *this;
    }
    Config& max_stanza_size(std::size_t bytes) {
        detail::check(xmpp_roster_config_set_max_stanza_size(config_.get(), bytes));
        return *this;
    }
    /// An OR of xmpp_roster::sasl bits.
    Config& sasl_mechanisms(std::uint32_t mask) {
        detail::check(xmpp_roster_config_set_sasl_mechanisms(config_.get(), mask));
        return *this;
    }
    Config& auto_approve(bool on) {
        detail::check(xmpp_roster_config_set_auto_approve(config_.get(), on));
        return *this;
    }
    const xmpp_roster_config* get() const noexcept { return config_.get(); }

private:
    std::unique_ptr<xmpp_roster_config, detail::ConfigDeleter> config_;
};

/// A contact resource's presence, as passed to the presence callback (views valid during it).
struct Presence {
    std::string_view from;  ///< full JID of the contact's resource
    bool available;
    Show show;
    std::optional<std::string_view> status;
    std::int8_t priority;
};

using RosterChangeHandler = std::function<void(Change, const Item&, std::optional<std::string_view> version)>;
using SubscriptionHandler = std::function<void(SubscriptionKind, std::string_view from_bare_jid, std::optional<std::string_view> status)>;
using PresenceHandler = std::function<void(const Presence&)>;
using DisconnectHandler = std::function<void(xmpp_roster_result reason, std::string_view message)>;

/// A connection to one account. Blocking calls throw Error; see the file comment for threads.
class Client {
public:
    explicit Client(const Config& config) : pending_(std::make_unique<Pending>()) {
        xmpp_roster_client* raw = nullptr;
        detail::check(xmpp_roster_client_new(config.get(), &raw));
        client_.reset(raw);
    }

    /// Connects, secures, authenticates and binds a resource.
    void connect() { finish(xmpp_roster_client_connect(client_.get())); }
    /// Fetches the roster; returns true when the server said the local copy is current.
    bool fetch() {
        bool unchanged = false;
        finish(xmpp_roster_client_fetch(client_.get(), &unchanged));
        return unchanged;
    }
    /// Fetches like fetch() and, while the items arrive, queues them in `feed` in batches for
    /// another thread to take with Feed::next. When this returns or throws, the feed has ended;
    /// feed.complete() then says whether its batches are the new roster exactly. Throws Error
    /// with XMPP_ROSTER_ERR_INVALID_ARGUMENT when `feed` already served a fetch (it is left as
    /// it was), and whatever fetch() throws.
    bool fetch(Feed& feed) {
        bool unchanged = false;
        finish(xmpp_roster_client_fetch_feed(client_.get(), feed.get(), &unchanged));
        return unchanged;
    }
    /// Adds or updates `jid`; returns once the local roster shows the change.
    void set_item(std::string_view jid, std::optional<std::string_view> name = std::nullopt, const std::vector<std::string>& groups = {}) {
        std::string j = detail::c_string(jid, "jid");
        auto n = detail::c_string(name, "name");
        std::vector<const char*> g;
        g.reserve(groups.size());
        for (const std::string& group : groups) {
            if (group.find('\0') != std::string::npos) throw Error(XMPP_ROSTER_ERR_INVALID_ARGUMENT, "group contains a NUL character");
            g.push_back(group.c_str());
        }
        finish(xmpp_roster_client_set_item(client_.get(), j.c_str(), detail::ptr(n), g.data(), g.size()));
    }
    void remove_item(std::string_view jid) { jid_call(xmpp_roster_client_remove_item, jid); }
    void subscribe(std::string_view jid) { jid_call(xmpp_roster_client_subscribe, jid); }
    void unsubscribe(std::string_view jid) { jid_call(xmpp_roster_client_unsubscribe, jid); }
    void approve(std::string_view jid) { jid_call(xmpp_roster_client_approve, jid); }
    void deny(std::string_view jid) { jid_call(xmpp_roster_client_deny, jid); }
    void preapprove(std::string_view jid) { jid_call(xmpp_roster_client_preapprove, jid); }
    void send_presence(bool available, Show show = Show::Available, std::optional<std::string_view> status = std::nullopt, std::int8_t priority = 0) {
        auto s = detail::c_string(status, "status");
        finish(xmpp_roster_client_send_presence(client_.get(), available, static_cast<std::uint32_t>(show), detail::ptr(s), priority));
    }
    /// Waits up to `timeout` for the server; returns how many stanzas were handled.
    std::size_t poll(std::chrono::milliseconds timeout) {
        std::size_t handled = 0;
        finish(xmpp_roster_client_poll(client_.get(), detail::timeout_ms(timeout), &handled));
        return handled;
    }
    /// Cuts the running blocking call short (it throws Error with XMPP_ROSTER_ERR_INTERRUPTED).
    /// Safe from any thread and from callbacks.
    void interrupt() const { detail::check(xmpp_roster_client_interrupt(client_.get())); }
    void disconnect() { finish(xmpp_roster_client_disconnect(client_.get())); }
    /// False also when the client is busy (called from its own callback).
    bool is_connected() const noexcept { return xmpp_roster_client_is_connected(client_.get()); }
    /// The full JID bound for this session ("" before connecting).
    std::string bound_jid() const {
        std::size_t n = xmpp_roster_client_bound_jid(client_.get(), nullptr, 0);
        std::vector<char> buf(n + 1);
        std::size_t m = xmpp_roster_client_bound_jid(client_.get(), buf.data(), buf.size());
        return std::string(buf.data(), m < n ? m : n);
    }
    bool supports_preapproval() const noexcept { return xmpp_roster_client_supports_preapproval(client_.get()); }
    bool supports_roster_versioning() const noexcept { return xmpp_roster_client_supports_roster_versioning(client_.get()); }
    Snapshot snapshot() {
        xmpp_roster_snapshot* raw = nullptr;
        detail::check(xmpp_roster_client_snapshot(client_.get(), &raw));
        return Snapshot(raw);
    }

    /// Replaces the local roster with a (cached) snapshot, so that the next fetch() sends its
    /// version and may find it current.
    void load_snapshot(const Snapshot& snapshot) { detail::check(xmpp_roster_client_load_snapshot(client_.get(), snapshot.get())); }

    /// Sets (or, with an empty function, removes) the roster-change handler.
    void on_roster_change(RosterChangeHandler handler) { install<RosterChangeHandler>(std::move(handler), xmpp_roster_client_on_roster_change, &roster_change_trampoline); }
    void on_subscription(SubscriptionHandler handler) { install<SubscriptionHandler>(std::move(handler), xmpp_roster_client_on_subscription, &subscription_trampoline); }
    void on_presence(PresenceHandler handler) { install<PresenceHandler>(std::move(handler), xmpp_roster_client_on_presence, &presence_trampoline); }
    void on_disconnect(DisconnectHandler handler) { install<DisconnectHandler>(std::move(handler), xmpp_roster_client_on_disconnect, &disconnect_trampoline); }

    xmpp_roster_client* get() const noexcept { return client_.get(); }

private:
    /// The exception a callback threw, kept until its blocking call returns. Heap-allocated so
    /// that its address (held by every registration) survives moves of the Client.
    struct Pending {
        std::exception_ptr error;
    };

    template <class F>
    struct Slot {
        F fn;
        Pending* pending;
    };

    template <class F>
    static void free_slot(void* userdata) {
        delete static_cast<Slot<F>*>(userdata);
    }

    /// Runs a user handler; an exception is stored (the first one wins) and aborts the call.
    template <class F, class... Args>
    static int run(void* userdata, Args&&... args) noexcept {
        auto* slot = static_cast<Slot<F>*>(userdata);
        try {
            slot->fn(std::forward<Args>(args)...);
            return 0;
        } catch (...) {
            if (!slot->pending->error) slot->pending->error = std::current_exception();
            return 1;
        }
    }

    static int roster_change_trampoline(void* userdata, std::uint32_t change, const xmpp_roster_item* item, const char* version) noexcept {
        Item view(item);
        return run<RosterChangeHandler>(userdata, static_cast<Change>(change), static_cast<const Item&>(view), detail::opt_view(version));
    }
    static int subscription_trampoline(void* userdata, std::uint32_t kind, const char* from, const char* status) noexcept {
        return run<SubscriptionHandler>(userdata, static_cast<SubscriptionKind>(kind), std::string_view(from), detail::opt_view(status));
    }
    static int presence_trampoline(void* userdata, const char* from, bool available, std::uint32_t show, const char* status, std::int8_t priority) noexcept {
        Presence p{std::string_view(from), available, static_cast<Show>(show), detail::opt_view(status), priority};
        return run<PresenceHandler>(userdata, static_cast<const Presence&>(p));
    }
    static void disconnect_trampoline(void* userdata, xmpp_roster_result reason, const char* message) noexcept {
        (void)run<DisconnectHandler>(userdata, reason, std::string_view(message));
    }

    template <class F, class Register, class Trampoline>
    void install(F handler, Register reg, Trampoline trampoline) {
        if (!handler) {
            detail::check(reg(client_.get(), nullptr, nullptr, nullptr));
            return;
        }
        auto slot = std::make_unique<Slot<F>>(Slot<F>{std::move(handler), pending_.get()});
        detail::check(reg(client_.get(), trampoline, slot.get(), &free_slot<F>));
        slot.release();  // the library owns it now and calls free_slot exactly once
    }

    void jid_call(xmpp_roster_result (*fn)(xmpp_roster_client*, const char*), std::string_view jid) {
        std::string j = detail::c_string(jid, "jid");
        finish(fn(client_.get(), j.c_str()));
    }

    /// After a blocking call: a callback's exception first, then the call's own error.
    void finish(xmpp_roster_result code) {
        if (pending_ && pending_->error) {
            std::exception_ptr e = std::exchange(pending_->error, nullptr);
            std::rethrow_exception(e);
        }
        detail::check(code);
    }

    // Declared before client_ so that it is destroyed after it: freeing the C client runs the
    // finalizers of slots that point here.
    std::unique_ptr<Pending> pending_;
    std::unique_ptr<xmpp_roster_client, detail::ClientDeleter> client_;
};

}  // namespace xmpp_roster

#endif  // XMPP_ROSTER_HPP
