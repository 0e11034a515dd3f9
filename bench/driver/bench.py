#!/usr/bin/python3
"""Runs the benchmark series and writes the report (report.md, results.json, PNG plots).

Called by bench/run.sh once everything is built; standard library only (Debian's /usr/bin/python3).
Every client is a separate process called as CLIENT HOST PORT JID PASSWORD EXPECTED_ITEMS [PUSHES]
that prints one line "RESULT key=value ..." (see bench/clients/bench_common.h). For each run this
driver also takes the child's CPU time and peak RSS from wait4(2).

Series:
  replay  the client cost alone: xr-replay answers the login and the roster get at wire speed.
  pushes  xmpp-roster applying a stream of roster pushes from xr-replay.
  real    ejabberd 23.01 (SQLite storage filled before the first login) on 127.0.0.1.
For each roster size the clients run in turn, A B C ... A B C ..., `runs` times; the report gives
medians. A client that exceeds the per-run timeout is stopped, reported as "timed out > N s", and
not run again at that size or larger ones.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
#: Sizes up to this many items get --small-runs rounds instead of --runs.
SMALL_MAX_ITEMS = 10000
#: Clients whose median run at a size is shorter than this get --fast-runs rounds there.
FAST_MAX_MS = 1000
PASSWORD = "benchpw"
SPAWN = "xr_spawn"  # set from --bin-dir in main()


# --- clients ------------------------------------------------------------------------------------

class ClientSpec:
    def __init__(self, key, label, argv, env=None, note=""):
        self.key, self.label, self.argv, self.env, self.note = key, label, argv, env or {}, note


def client_specs(a):
    b = a.bin_dir
    py = "/usr/bin/python3"
    pyenv = {"XMPP_ROSTER_LIBRARY": a.lib, "PYTHONPATH": a.python_path}
    return {
        "xmpp-roster": ClientSpec("xmpp-roster", "xmpp-roster (C API)", [f"{b}/xr_client"]),
        "python": ClientSpec("python", "xmpp-roster Python binding", [py, f"{a.clients_dir}/python_client.py"], pyenv),
        "gloox": ClientSpec("gloox", "gloox 1.0 (RosterManager)", [f"{b}/gloox_client"]),
        "libstrophe": ClientSpec("libstrophe", "libstrophe 0.12 (+ hash table)", [f"{b}/strophe_client"]),
        "slixmpp": ClientSpec("slixmpp", "slixmpp 1.8 (get_roster)", [py, f"{a.clients_dir}/slixmpp_client.py"]),
        "raw": ClientSpec("raw", "raw socket, no parsing (floor)", [f"{b}/raw_client"]),
    }


def run_client(spec, port, jid, expected, timeout, log, pushes=0, spawn=None):
    """One run, through xr_spawn (which measures the child's CPU time and peak RSS and enforces the
    timeout). Returns a dict of measurements, {"timeout": True} or {"error": "..."}."""
    argv = spec.argv + ["127.0.0.1", str(port), jid, PASSWORD, str(expected)]
    if pushes:
        argv.append(str(pushes))
    env = dict(os.environ, **spec.env)
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    try:
        # xr_spawn kills the client at `timeout`; this outer limit only guards against xr_spawn itself.
        p = subprocess.run([spawn or SPAWN, f"{timeout:g}"] + argv, stdout=subprocess.PIPE, stderr=log, env=env,
                           timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        return {"timeout": True}
    out = p.stdout.decode("utf-8", "replace")
    log.write(out)
    fields = lambda prefix: next(({k: int(v) for k, v in (kv.split("=", 1) for kv in l.split()[1:])}
                                  for l in out.splitlines() if l.startswith(prefix)), None)
    sp = fields("SPAWN ")
    if sp is None:
        return {"error": f"xr_spawn exit {p.returncode}"}
    if sp.get("timeout"):
        return {"timeout": True}
    r = fields("RESULT ")
    if sp["status"] != 0 or r is None:
        return {"error": f"exit {sp['status']}"}
    r.update(cpu_s=sp["cpu_us"] / 1e6, maxrss_kb=sp["maxrss_kb"], process_wall_s=sp["wall_us"] / 1e6)
    return r


def run_series(name, clients, sizes, port_for, jid_for, runs_for, fast_runs, timeout, log, progress):
    """Interleaved runs (A B C A B C ...) per size, runs_for(size) rounds; then the clients whose
    median run there took under FAST_MAX_MS go on, interleaved among themselves, until they have
    fast_runs runs (cheap rounds; more of them steady the medians on a shared machine).
    Returns {size: {client: [run results]}}."""
    results = {}
    dead = {}  # client -> size at which it timed out

    def rounds(size, port, members, first, last):
        """Rounds first..last-1 of `members`, interleaved; a client that times out is not run again."""
        for run in range(first, last):
            for c in members:
                if c.key in dead:
                    if not results[size][c.key]:
                        results[size][c.key].append({"timeout": True, "skipped": dead[c.key] != size, "at": dead[c.key]})
                    continue
                r = run_client(c, port, jid_for(size), size, timeout, log)
                results[size][c.key].append(r)
                progress(f"{name} {size:>7} run {run + 1}/{last} {c.key:<12} " + describe(r))
                if r.get("timeout"):
                    dead[c.key] = size
                    r["at"] = size

    for size in sizes:
        port = port_for(size)
        results[size] = {c.key: [] for c in clients}
        runs = runs_for(size)
        rounds(size, port, clients, 0, runs)
        fast = [c for c in clients if c.key not in dead and is_fast(results[size][c.key])]
        rounds(size, port, fast, runs, fast_runs)
    return results


def is_fast(rs):
    good = ok_runs(rs)
    return bool(good) and statistics.median(r["total_us"] for r in good) < FAST_MAX_MS * 1000


def describe(r):
    if r.get("timeout"):
        return "timed out"
    if "error" in r:
        return r["error"]
    return f"{r['total_us'] / 1000:9.1f} ms  cpu {r['cpu_s']:6.3f} s  rss {r['maxrss_kb'] / 1024:7.1f} MB"


# --- servers ------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server not ready on 127.0.0.1:{port} after {limit} s")


def stop_group(proc, grace=10.0):
    """Stops a server we started in its own session: SIGTERM to its process group, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


class Replay:
    def __init__(self, a, items, pushes, log):
        self.dir = tempfile.mkdtemp(prefix="xr-replay-")
        port_file = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen(
            [f"{a.replay_bin}", "--items", str(items), "--pushes", str(pushes), "--port-file", port_file,
             "--max-connections", "10000", "--lifetime-s", str(int(a.timeout * a.runs * 8 + 300))],
            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 120
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("xr-replay did not start")
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read())

    def stop(self):
        stop_group(self.proc, 2)
        shutil.rmtree(self.dir, ignore_errors=True)


class Ejabberd:
    """A private ejabberd: its own dir, loopback ports, SQLite rosters written before the first login."""

    def __init__(self, a, sizes, log, progress):
        self.dir = tempfile.mkdtemp(prefix="xr-bench-ejabberd-")
        self.port = free_port()
        dist = free_port()
        subst = {"@DIR@": self.dir, "@PORT@": str(self.port), "@DIST_PORT@": str(dist),
                 "@NODE@": f"xrbench{os.getpid()}@localhost"}
        for name in ("ejabberd.yml", "ejabberdctl.cfg"):
            with open(os.path.join(HERE, name + ".in")) as f:
                text = f.read()
            for k, v in subst.items():
                text = text.replace(k, v)
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        t = time.monotonic()
        db = sqlite3.connect(os.path.join(self.dir, "ejabberd.db"))
        with open("/usr/share/ejabberd/sql/lite.sql") as f:
            db.executescript(f.read())
        for size in sizes:
            user = f"bench{size}"
            db.execute("INSERT INTO users(username, password) VALUES (?, ?)", (user, PASSWORD))
            sql = subprocess.run([a.gen_bin, "sql", user, str(size)], check=True, capture_output=True).stdout.decode()
            db.executescript(sql)
        db.commit()
        db.close()
        progress(f"ejabberd: SQLite rosters of {', '.join(map(str, sizes))} items written in {time.monotonic() - t:.1f} s")
        os.makedirs(os.path.join(self.dir, "logs"))
        os.makedirs(os.path.join(self.dir, "spool"))
        t = time.monotonic()
        self.proc = subprocess.Popen(
            ["ejabberdctl", "--config-dir", self.dir, "--config", os.path.join(self.dir, "ejabberd.yml"),
             "--ctl-config", os.path.join(self.dir, "ejabberdctl.cfg"), "--logs", os.path.join(self.dir, "logs"),
             "--spool", os.path.join(self.dir, "spool"), "foreground"],
            stdout=log, stderr=log, env=dict(os.environ, HOME=self.dir), cwd=self.dir, start_new_session=True)
        try:
            wait_port(self.port, self.proc, 60)
        except Exception:
            self.stop()
            raise
        progress(f"ejabberd: ready on 127.0.0.1:{self.port} in {time.monotonic() - t:.1f} s")

    def stop(self):
        stop_group(self.proc, 15)
        if os.environ.get("XR_BENCH_KEEP_DIR"):
            print(f"ejabberd dir kept: {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# --- statistics and report ----------------------------------------------------------------------

def ok_runs(rs):
    return [r for r in rs if "total_us" in r]


def summarize(rs, size, wire_bytes):
    good = ok_runs(rs)
    if not good:
        if any(r.get("timeout") for r in rs):
            at = next((r.get("at") for r in rs if r.get("timeout")), size)
            return {"status": "timeout", "at": at}
        return {"status": "error", "error": next((r.get("error") for r in rs if "error" in r), "no result")}
    med = lambda k: statistics.median(r[k] for r in good)
    s = {
        "status": "ok", "runs": len(good), "failed_runs": len(rs) - len(good),
        "wall_ms": med("total_us") / 1000, "roster_ms": med("roster_us") / 1000,
        "wall_ms_min": min(r["total_us"] for r in good) / 1000, "wall_ms_max": max(r["total_us"] for r in good) / 1000,
        "roster_ms_min": min(r["roster_us"] for r in good) / 1000, "roster_ms_max": max(r["roster_us"] for r in good) / 1000,
        "cpu_s": med("cpu_s"), "maxrss_mb": med("maxrss_kb") / 1024,
        "rss_growth_mb": statistics.median(r["rss_peak_kb"] - r["rss_base_kb"] for r in good) / 1024,
        "process_wall_s": med("process_wall_s"),
    }
    s["us_per_item"] = s["wall_ms"] * 1000 / size
    s["roster_us_per_item"] = s["roster_ms"] * 1000 / size
    if wire_bytes:
        s["wire_mb"] = wire_bytes / 1e6
        s["mb_per_s"] = wire_bytes / 1e6 / (s["roster_ms"] / 1000) if s["roster_ms"] > 0 else 0
        s["rss_growth_x_wire"] = s["rss_growth_mb"] * 1024 * 1024 / wire_bytes
    return s


def fmt_cell(s, timeout):
    if s["status"] == "timeout":
        return f"timed out > {timeout:g} s" + ("" if s.get("at") is None else "")
    if s["status"] == "error":
        return f"failed ({s['error']})"
    return None


def table(series, specs, sizes, wire, timeout, floor="raw", replay=False):
    rows = []
    head = "| items | client | connect→indexed (median) | min–max | µs/item | CPU (process) | peak RSS | RSS growth | × raw floor |"
    if replay:
        head = "| items | client | connect→indexed (median) | min–max | µs/item | roster MB/s | CPU (process) | peak RSS | RSS growth (× wire) | × raw floor |"
    rows.append(head)
    rows.append("|" + "---|" * (head.count("|") - 1))
    for size in sizes:
        sums = series["summary"][str(size)]
        floor_ms = sums.get(floor, {}).get("wall_ms") if sums.get(floor, {}).get("status") == "ok" else None
        for key, s in sums.items():
            label = specs[key].label
            bad = fmt_cell(s, timeout)
            if bad:
                if s["status"] == "timeout" and s.get("at") not in (None, size):
                    bad = f"not run (timed out > {timeout:g} s at {s['at']})"
                rows.append(f"| {size:,} | {label} | {bad} |" + " |" * (head.count("|") - 4))
                continue
            ratio = f"{s['wall_ms'] / floor_ms:.2f}" if floor_ms else "–"
            if replay:
                growth = f"{s['rss_growth_mb']:.1f} MB ({s.get('rss_growth_x_wire', 0):.2f}×)"
                mbs = f"{s['mb_per_s']:.0f}" if key != "raw" else f"{s['mb_per_s']:.0f}"
                rows.append(f"| {size:,} | {label} | {s['wall_ms']:.1f} ms | {s['wall_ms_min']:.1f}–{s['wall_ms_max']:.1f} | "
                            f"{s['us_per_item']:.2f} | {mbs} | {s['cpu_s']:.3f} s | {s['maxrss_mb']:.1f} MB | {growth} | {ratio} |")
            else:
                rows.append(f"| {size:,} | {label} | {s['wall_ms']:.1f} ms | {s['wall_ms_min']:.1f}–{s['wall_ms_max']:.1f} | "
                            f"{s['us_per_item']:.2f} | {s['cpu_s']:.3f} s | {s['maxrss_mb']:.1f} MB | {s['rss_growth_mb']:.1f} MB | {ratio} |")
    return "\n".join(rows)


def plot(out_dir, name, title, series, specs, sizes):
    """Two panels: µs per item and peak RSS against roster size, one line per client."""
    gp = shutil.which("gnuplot")
    if not gp:
        return None
    data = os.path.join(out_dir, f"{name}.dat")
    keys = list(specs)
    with open(data, "w") as f:
        for key in keys:
            f.write(f"# {key}\n")
            for size in sizes:
                s = series["summary"].get(str(size), {}).get(key)
                if s and s["status"] == "ok":
                    f.write(f"{size} {s['us_per_item']:.4f} {s['maxrss_mb']:.2f} {s['rss_growth_mb']:.2f}\n")
            f.write("\n\n")
    png = os.path.join(out_dir, f"{name}.png")
    plots_t = ", ".join(f"'{data}' index {i} using 1:2 with linespoints lw 2 title '{specs[k].label}'" for i, k in enumerate(keys))
    plots_m = ", ".join(f"'{data}' index {i} using 1:3 with linespoints lw 2 title '{specs[k].label}'" for i, k in enumerate(keys))
    script = f"""
set terminal pngcairo size 1400,560 font 'DejaVu Sans,10'
set output '{png}'
set multiplot layout 1,2 title '{title}'
set logscale xy
{f"set xrange [{min(sizes) / 2}:{max(sizes) * 2}]" if len(sizes) == 1 else ""}
set grid
set key top left font ',9'
set xlabel 'roster items'
set ylabel 'µs per item (connect → indexed)'
set title 'time per item (flat = linear cost)'
plot {plots_t}
set ylabel 'peak RSS of the process (MB)'
set title 'peak RSS'
plot {plots_m}
unset multiplot
"""
    subprocess.run([gp], input=script.encode(), check=True)
    return png


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--clients-dir", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--python-path", required=True)
    ap.add_argument("--replay-bin", required=True)
    ap.add_argument("--gen-bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--real-sizes", default="1000,10000,50000")
    ap.add_argument("--replay-sizes", default="1000,10000,50000,200000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--small-runs", type=int, default=15,
                    help=f"runs for sizes up to {SMALL_MAX_ITEMS:,} items (cheap, and noisier: more runs steady their medians)")
    ap.add_argument("--fast-runs", type=int, default=31,
                    help=f"runs for a client whose median at a size is under {FAST_MAX_MS} ms (after --runs, among such clients only)")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--pushes", type=int, default=100000)
    ap.add_argument("--push-roster", type=int, default=10000)
    ap.add_argument("--clients", default="xmpp-roster,python,gloox,libstrophe,slixmpp,raw")
    ap.add_argument("--replay-clients", default=None, help="default: --clients")
    ap.add_argument("--skip", default="", help="comma list of series to skip: replay,pushes,real")
    ap.add_argument("--criterion-dir", default="")
    a = ap.parse_args()
    global SPAWN
    SPAWN = os.path.join(a.bin_dir, "xr_spawn")
    os.makedirs(a.out, exist_ok=True)
    skip = set(filter(None, a.skip.split(",")))

    def runs_for(size):
        return max(a.runs, a.small_runs) if size <= SMALL_MAX_ITEMS else a.runs
    specs_all = client_specs(a)
    clients = [specs_all[k] for k in a.clients.split(",") if k]
    replay_clients = [specs_all[k] for k in (a.replay_clients or a.clients).split(",") if k]
    real_sizes = [int(x) for x in a.real_sizes.split(",") if x]
    replay_sizes = [int(x) for x in a.replay_sizes.split(",") if x]
    log = open(os.path.join(a.out, "bench.log"), "w")
    t_start = time.monotonic()

    def progress(msg):
        line = f"[{time.monotonic() - t_start:7.1f} s] {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    results = {"meta": {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": os.uname().nodename, "cpus": os.cpu_count(),
        "load_before": os.getloadavg(), "runs": a.runs, "timeout_s": a.timeout,
        "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "command": " ".join(sys.argv),
    }}
    wire = {}
    for size in sorted(set(real_sizes + replay_sizes)):
        xml = subprocess.run([a.gen_bin, "xml", str(size)], check=True, capture_output=True).stdout
        wire[size] = len(xml)

    if "replay" not in skip and replay_sizes:
        servers = {}
        try:
            def port_for(size):
                for s in list(servers):
                    if s != size:
                        servers.pop(s).stop()
                if size not in servers:
                    servers[size] = Replay(a, size, 0, log)
                return servers[size].port
            raw = run_series("replay", replay_clients, replay_sizes, port_for, lambda s: "bench@localhost",
                             runs_for, a.fast_runs, a.timeout, log, progress)
        finally:
            for s in servers.values():
                s.stop()
        results["replay"] = {"raw": raw, "summary": {str(size): {k: summarize(v, size, wire[size]) for k, v in raw[size].items()} for size in raw}}

    if "pushes" not in skip and a.pushes:
        server = Replay(a, a.push_roster, a.pushes, log)
        try:
            runs = []
            for run in range(a.runs):
                r = run_client(specs_all["xmpp-roster"], server.port, "bench@localhost", a.push_roster, a.timeout, log, a.pushes)
                runs.append(r)
                rate = a.pushes / (r["pushes_us"] / 1e6) if "pushes_us" in r else 0
                progress(f"pushes run {run + 1}/{a.runs}: {describe(r)}  {rate:,.0f} pushes/s")
        finally:
            server.stop()
        good = [r for r in runs if "pushes_us" in r]
        results["pushes"] = {"raw": runs, "count": a.pushes, "roster": a.push_roster,
                             "per_s": statistics.median(a.pushes / (r["pushes_us"] / 1e6) for r in good) if good else None,
                             "per_s_min": min((a.pushes / (r["pushes_us"] / 1e6) for r in good), default=None),
                             "per_s_max": max((a.pushes / (r["pushes_us"] / 1e6) for r in good), default=None)}

    if "real" not in skip and real_sizes:
        server = Ejabberd(a, real_sizes, log, progress)
        try:
            # Warm-up: one unmeasured raw fetch per account (first login, SQL roster load).
            for size in real_sizes:
                run_client(specs_all["raw"], server.port, f"bench{size}@localhost", size, a.timeout, log)
            raw = run_series("ejabberd", clients, real_sizes, lambda s: server.port, lambda s: f"bench{s}@localhost",
                             runs_for, a.fast_runs, a.timeout, log, progress)
        finally:
            server.stop()
        results["real"] = {"raw": raw, "summary": {str(size): {k: summarize(v, size, 0) for k, v in raw[size].items()} for size in raw}}
        # Wire size on ejabberd as read by the raw client.
        results["real"]["wire_bytes"] = {str(s): wire[s] for s in real_sizes}

    if a.criterion_dir and os.path.isdir(a.criterion_dir):
        results["micro"] = read_criterion(a.criterion_dir)

    results["meta"]["load_after"] = os.getloadavg()
    results["meta"]["duration_s"] = time.monotonic() - t_start
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    write_report(a, results, specs_all, real_sizes, replay_sizes, wire, progress)
    return 0


def read_criterion(root):
    """Criterion's estimates: {benchmark id: (median ns, throughput bytes)}."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) == "new" and "estimates.json" in files and "benchmark.json" in files:
            with open(os.path.join(dirpath, "estimates.json")) as f:
                est = json.load(f)
            with open(os.path.join(dirpath, "benchmark.json")) as f:
                meta = json.load(f)
            tp = (meta.get("throughput") or {}).get("Bytes")
            out[meta["full_id"]] = {"median_ns": est["median"]["point_estimate"], "bytes": tp}
    return out


def write_report(a, results, specs_all, real_sizes, replay_sizes, wire, progress):
    m = results["meta"]
    lines = [
        "# xmpp-roster benchmark report", "",
        f"Run {m['date']} on {m['host']}: {m['cpus']} CPUs ({m['cpu_model']}), load average before "
        f"{m['load_before'][0]:.2f}, after {m['load_after'][0]:.2f}; {a.runs} runs per client and size "
        f"({max(a.runs, a.small_runs)} for sizes up to {SMALL_MAX_ITEMS:,} items; a client whose median at a size "
        f"is under {FAST_MAX_MS:,} ms goes on to {max(a.runs, a.fast_runs)} runs there, interleaved with the other such clients), "
        f"interleaved (A B C … A B C …), medians; per-run timeout {a.timeout:g} s; took {m['duration_s']:.0f} s.", "",
        f"Command: `{m['command']}`", "",
        "Columns: *connect→indexed* is measured inside each client from just before the TCP connect to the "
        "roster being indexed by JID (login included; process start-up and interpreter imports are not). "
        "*CPU* is the whole client process's user+system time (wait4), start-up included. *Peak RSS* is the "
        "process's ru_maxrss; *RSS growth* is the peak at the end minus the peak before connecting. "
        "*× raw floor* divides by the raw socket client's median in the same series.", "",
    ]
    if "replay" in results:
        lines += ["## Client cost alone: replay server (xr-replay)", "",
                  "The server answers the login and writes a prerecorded roster result at wire speed. "
                  "*roster MB/s* is the roster result's size divided by the time from the roster request to "
                  "the roster indexed.", "",
                  table(results["replay"], specs_all, replay_sizes, wire, a.timeout, replay=True), ""]
        png = plot(a.out, "replay", "Replay server: client cost alone", results["replay"],
                   {k: specs_all[k] for k in next(iter(results["replay"]["summary"].values()))}, replay_sizes)
        if png:
            lines += [f"![replay scaling]({os.path.basename(png)})", ""]
        sizes_str = ", ".join(f"{s:,}: {wire[s] / 1e6:.2f} MB" for s in replay_sizes)
        lines += [f"Roster result sizes on the wire: {sizes_str}.", ""]
    if "pushes" in results:
        p = results["pushes"]
        if p["per_s"]:
            lines += ["## Roster pushes", "",
                      f"{p['count']:,} roster pushes (60% updates, 30% additions, 10% removals) streamed back to back "
                      f"after a {p['roster']:,}-item fetch, each answered and applied by xmpp-roster through "
                      f"`xmpp_roster_client_poll` (the roster-change callback counts them): median "
                      f"**{p['per_s']:,.0f} pushes/s** (min {p['per_s_min']:,.0f}, max {p['per_s_max']:,.0f}).", ""]
        else:
            lines += ["## Roster pushes", "", "No successful run (see bench.log).", ""]
    if "real" in results:
        lines += ["## Real server: ejabberd 23.01 on 127.0.0.1", "",
                  "SQLite storage filled before the first login; plaintext c2s without shaper, SASL PLAIN for every "
                  "client; no client sends presence. One unmeasured raw fetch per account warms the server first.", "",
                  table(results["real"], specs_all, real_sizes, wire, a.timeout), ""]
        png = plot(a.out, "real", "ejabberd 23.01 on loopback: connect to roster indexed", results["real"],
                   {k: specs_all[k] for k in next(iter(results["real"]["summary"].values()))}, real_sizes)
        if png:
            lines += [f"![ejabberd scaling]({os.path.basename(png)})", ""]
    if results.get("micro"):
        lines += ["## Micro-benchmarks (criterion, in memory)", "", "| benchmark | median | throughput |", "|---|---|---|"]
        for k, v in sorted(results["micro"].items()):
            tp = f"{v['bytes'] / (v['median_ns'] / 1e9) / 1e6:.0f} MB/s" if v.get("bytes") else "–"
            lines.append(f"| {k} | {v['median_ns'] / 1e6:.3f} ms | {tp} |")
        lines.append("")
    lines += targets(results, a)
    path = os.path.join(a.out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    progress(f"report: {path}")


def targets(results, a):
    """The issue's targets, each as measured / target."""
    rows = ["## Targets (measured / target)", "", "| target | measured | verdict |", "|---|---|---|"]

    def ok(s):
        return s and s.get("status") == "ok"

    def verdict(good):
        return "met" if good else "**missed**"
    real = results.get("real", {}).get("summary", {}).get("10000")
    if real:
        xr, raw, gl, st = real.get("xmpp-roster"), real.get("raw"), real.get("gloox"), real.get("libstrophe")
        if ok(xr) and ok(raw):
            r = xr["wall_ms"] / raw["wall_ms"]
            rows.append(f"| ejabberd 10k: within 1.2× the raw floor | {r:.2f}× ({xr['wall_ms']:.1f} vs {raw['wall_ms']:.1f} ms) | {verdict(r <= 1.2)} |")
        if ok(xr) and ok(gl):
            r = gl["wall_ms"] / xr["wall_ms"]
            rows.append(f"| ejabberd 10k: ≥ 3× faster than gloox | {r:.1f}× | {verdict(r >= 3)} |")
        if ok(xr) and st:
            if ok(st):
                r = st["wall_ms"] / xr["wall_ms"]
                rows.append(f"| ejabberd 10k: ≥ 5× faster than libstrophe | {r:.1f}× | {verdict(r >= 5)} |")
            else:
                rows.append(f"| ejabberd 10k: ≥ 5× faster than libstrophe | libstrophe timed out (> {a.timeout:g} s) | met |")
    rep = results.get("replay", {}).get("summary", {})
    r50 = rep.get("50000", {}).get("xmpp-roster")
    if ok(r50):
        slowest, fastest = (r50["wire_mb"] / (r50[k] / 1000) for k in ("roster_ms_max", "roster_ms_min"))
        rows.append(f"| replay 50k: ≥ 300 MB/s of roster XML | {r50['mb_per_s']:.0f} MB/s (median of {r50['runs']} runs; "
                    f"{slowest:.0f}–{fastest:.0f}) | {verdict(r50['mb_per_s'] >= 300)} |")
        rows.append(f"| replay 50k: RSS growth ≤ 3× wire size | {r50['rss_growth_x_wire']:.2f}× ({r50['rss_growth_mb']:.1f} MB for {r50['wire_mb']:.2f} MB) | {verdict(r50['rss_growth_x_wire'] <= 3)} |")
    per_item = [(int(s), v["xmpp-roster"]["roster_us_per_item"]) for s, v in rep.items() if ok(v.get("xmpp-roster"))]
    if len(per_item) >= 2:
        per_item.sort()
        small, big = per_item[0], per_item[-1]
        ratio = big[1] / small[1]
        rows.append(f"| flat cost per item {small[0]:,}..{big[0]:,} (replay, request→indexed) | "
                    + ", ".join(f"{s:,}: {u:.2f} µs" for s, u in per_item) + f" (×{ratio:.2f} end to end) | "
                    f"{verdict(ratio <= 1.5)} (≤ 1.5× counted as flat) |")
    p = results.get("pushes")
    if p and p.get("per_s"):
        rows.append(f"| pushes ≥ 200,000/s | {p['per_s']:,.0f}/s | {verdict(p['per_s'] >= 200000)} |")
    py, c = rep.get("50000", {}).get("python"), rep.get("50000", {}).get("xmpp-roster")
    if ok(py) and ok(c):
        r = py["roster_ms"] / c["roster_ms"]
        rows.append(f"| Python fetch_roster() 50k ≤ 2× C | {r:.2f}× ({py['roster_ms']:.1f} vs {c['roster_ms']:.1f} ms, fetch alone) | {verdict(r <= 2)} |")
    rows.append("")
    return rows


if __name__ == "__main__":
    sys.exit(main())
