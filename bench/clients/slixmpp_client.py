"""slixmpp (Debian's python3-slixmpp, run with /usr/bin/python3): logs in, awaits get_roster()
(slixmpp stores the items in its roster, keyed by JID: "roster indexed"), sends no presence.
Plaintext + SASL PLAIN. Same arguments and RESULT line as the C clients (bench_common.h)."""
import asyncio
import logging
import resource
import sys
import time

import slixmpp


def now_us() -> int:
    return time.monotonic_ns() // 1000


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class BenchClient(slixmpp.ClientXMPP):
    def __init__(self, jid: str, password: str) -> None:
        super().__init__(jid, password, plugin_config={"feature_mechanisms": {"unencrypted_plain": True, "use_mech": "PLAIN"}})
        self.t1 = self.t2 = 0
        self.count = -1
        self.add_event_handler("session_bind", self.on_bind)
        self.add_event_handler("session_start", self.on_start)

    def on_bind(self, _event) -> None:
        self.t1 = now_us()

    async def on_start(self, _event) -> None:
        await self.get_roster()
        self.t2 = now_us()
        self.count = len(self.client_roster.keys())
        self.disconnect()


def main() -> int:
    if len(sys.argv) < 6:
        print(f"usage: {sys.argv[0]} HOST PORT JID PASSWORD EXPECTED_ITEMS", file=sys.stderr)
        return 2
    host, port, jid, password, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    logging.basicConfig(level=logging.ERROR)
    rss_base = peak_rss_kb()
    client = BenchClient(jid + "/bench", password)
    t0 = now_us()
    client.connect((host, port), force_starttls=False, disable_starttls=True)
    loop = asyncio.get_event_loop()
    loop.run_until_complete(client.disconnected)
    if client.count < 0:
        print("slixmpp_client: no roster", file=sys.stderr)
        return 1
    if client.count != expected:
        print(f"slixmpp_client: {client.count} items, expected {expected}", file=sys.stderr)
        return 1
    print(f"RESULT items={client.count} connect_us={client.t1 - t0} roster_us={client.t2 - client.t1} total_us={client.t2 - t0} "
          f"rss_base_kb={rss_base} rss_peak_kb={peak_rss_kb()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
