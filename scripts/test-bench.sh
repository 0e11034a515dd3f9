#!/usr/bin/env bash
# The benchmarks cannot rot: builds the replay server, every benchmark client and the criterion
# benches, then runs each series once at the smallest size (bench/run.sh --quick: 1,000 items,
# one run, 1,000 pushes, ejabberd on 127.0.0.1, criterion in --test mode). Asserts that every
# client fetched the whole roster and that the report was written; asserts no timing.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d "${TMPDIR:-/tmp}/xr-test-bench.XXXXXX")"
trap 'rm -rf "$out"' EXIT
# The generator's own test: the generated result decodes to the generated items.
(cd bench && cargo test --locked --lib)
bash bench/run.sh --quick --out "$out"
/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
r = json.load(open(os.path.join(out, "results.json")))
checks = []
for series in ("replay", "real"):
    for size, clients in r[series]["summary"].items():
        for client, s in clients.items():
            checks.append((f"{series} {size} {client}", s["status"] == "ok", s))
checks.append(("pushes applied", bool(r.get("pushes", {}).get("per_s")), r.get("pushes")))
for name in ("report.md", "replay.png", "real.png"):
    checks.append((name, os.path.getsize(os.path.join(out, name)) > 0, None))
failed = [c for c in checks if not c[1]]
for name, ok, detail in checks:
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))
print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
PY
