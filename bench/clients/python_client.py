"""The Python binding (bindings/python, ctypes over the same shared library): connect, then
fetch_roster() which returns every item as a Python object (the items handed over in bulk
batches, turned into objects on a helper thread while the fetch runs).
Same arguments and RESULT line as the C clients (bench_common.h). Needs XMPP_ROSTER_LIBRARY and
bindings/python on sys.path (bench/run.sh sets both)."""
import resource
import sys
import time

import xmpp_roster


def now_us() -> int:
    return time.monotonic_ns() // 1000


def main() -> int:
    host, port, jid, password, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    rss_base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    config = xmpp_roster.Config(jid, password, host=host, port=port, tls="plaintext", resource="bench", timeout=300.0,
                               max_stanza_size=256 << 20, sasl_mechanisms=["PLAIN"])
    client = xmpp_roster.Client(config)
    try:
        t0 = now_us()
        client.connect()
        t1 = now_us()
        items = client.fetch_roster()
        t2 = now_us()
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if len(items) != expected:
            print(f"python_client: {len(items)} items, expected {expected}", file=sys.stderr)
            return 1
        print(f"RESULT items={len(items)} connect_us={t1 - t0} roster_us={t2 - t1} total_us={t2 - t0} "
              f"rss_base_kb={rss_base} rss_peak_kb={rss_peak}", flush=True)
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
