/* The floor: a raw socket client that logs in (SASL PLAIN, bind), sends the roster get and reads
 * the bytes until the result's </iq>, without parsing anything: what any client must at least
 * spend to get the roster off the wire. It reads into one fixed 64 KiB buffer and only scans for
 * the end marker, so its memory does not grow with the roster. */
#define _GNU_SOURCE
#include "bench_common.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static int sock = -1;
static char buf[65536 + 64];
static size_t have; /* bytes in buf */

static void die(const char *what) {
    fprintf(stderr, "raw_client: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

static void send_all(const char *s) {
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = write(sock, s + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("write");
        off += (size_t)n;
    }
}

/* Reads until `marker` has been seen (split across reads is fine); keeps what follows it. */
static void read_until(const char *marker) {
    size_t mlen = strlen(marker);
    for (;;) {
        buf[have] = 0;
        char *hit = memmem(buf, have, marker, mlen);
        if (hit) {
            size_t rest = have - (size_t)(hit + mlen - buf);
            memmove(buf, hit + mlen, rest);
            have = rest;
            return;
        }
        if (have >= mlen) { /* keep only a possible partial marker */
            memmove(buf, buf + have - (mlen - 1), mlen - 1);
            have = mlen - 1;
        }
        ssize_t n = read(sock, buf + have, sizeof buf - 64 - have);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) { errno = 0; die("the server closed the connection"); }
        if (n < 0) die("read");
        have += (size_t)n;
    }
}

static void base64(const unsigned char *in, size_t len, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        *out++ = t[in[i] >> 2]; *out++ = t[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        *out++ = t[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)]; *out++ = t[in[i + 2] & 63];
    }
    if (i < len) {
        *out++ = t[in[i] >> 2];
        if (i + 1 < len) { *out++ = t[((in[i] & 3) << 4) | (in[i + 1] >> 4)]; *out++ = t[(in[i + 1] & 15) << 2]; }
        else { *out++ = t[(in[i] & 3) << 4]; *out++ = '='; }
        *out++ = '=';
    }
    *out = 0;
}

int main(int argc, char **argv) {
    struct bench_args a = bench_parse_args(argc, argv);
    long rss_base = bench_peak_rss_kb();
    char user[256], domain[256], msg[2048], b64[1024];
    unsigned char plain[600];
    const char *at = strchr(a.jid, '@');
    if (!at || (size_t)(at - a.jid) >= sizeof user || strlen(at + 1) >= sizeof domain) die("bad JID");
    memcpy(user, a.jid, (size_t)(at - a.jid)); user[at - a.jid] = 0;
    strcpy(domain, at + 1);
    size_t ulen = strlen(user), plen = strlen(a.password);
    if (ulen + plen + 2 > sizeof plain) die("credentials too long");
    plain[0] = 0; memcpy(plain + 1, user, ulen); plain[1 + ulen] = 0; memcpy(plain + 2 + ulen, a.password, plen);
    base64(plain, ulen + plen + 2, b64);

    uint64_t t0 = bench_now_us();
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)a.port);
    if (inet_pton(AF_INET, a.host, &sa.sin_addr) != 1) die("HOST must be an IPv4 address");
    sock = socket(AF_INET, SOCK_STREAM, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    snprintf(msg, sizeof msg, "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", domain);
    send_all(msg);
    read_until("</stream:features>");
    snprintf(msg, sizeof msg, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", b64);
    send_all(msg);
    read_until("<success");
    read_until(">");
    have = 0;
    snprintf(msg, sizeof msg, "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", domain);
    send_all(msg);
    read_until("</stream:features>");
    send_all("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>");
    read_until("bind1");
    read_until("</iq>");
    uint64_t t1 = bench_now_us();
    send_all("<iq type='get' id='rostget1'><query xmlns='jabber:iq:roster'/></iq>");
    read_until("rostget1");
    read_until("</iq>");
    uint64_t t2 = bench_now_us();
    long rss_peak = bench_peak_rss_kb();
    printf("RESULT items=%ld connect_us=%llu roster_us=%llu total_us=%llu rss_base_kb=%ld rss_peak_kb=%ld\n", a.expected,
           (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1), (unsigned long long)(t2 - t0), rss_base, rss_peak);
    fflush(stdout);
    send_all("</stream:stream>");
    close(sock);
    return 0;
}
