#!/usr/bin/env bash
# The one command: builds the library, the replay server and every benchmark client, runs the
# series (replay, pushes, ejabberd, criterion micro-benchmarks) and writes the report
# (report.md, results.json, replay.png, real.png, bench.log) to bench/results/<date> or --out.
#
#   bench/run.sh [--out DIR] [--runs N] [--small-runs N] [--fast-runs N] [--real-sizes 1000,10000,50000]
#                [--replay-sizes 1000,10000,50000,200000] [--pushes 100000] [--timeout SECONDS]
#                [--clients xmpp-roster,python,gloox,libstrophe,slixmpp,raw] [--skip replay,pushes,real,micro]
#                [--quick]        # smallest size, one run, 1,000 pushes, criterion in --test mode
# --runs (default 5) rounds per size; sizes up to 10,000 items get --small-runs (default 15); a client
# whose median at a size is under 1 s goes on to --fast-runs (default 31) there.
#
# Needs what scripts/deps/bench.apt lists (scripts/install-deps.sh installs it) and cargo.
# Only 127.0.0.1 is ever used; every server started here is stopped by its pid at the end.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

out="" runs=5 small_runs=15 fast_runs=31 real_sizes=1000,10000,50000 replay_sizes=1000,10000,50000,200000 pushes=100000 timeout=60
clients=xmpp-roster,python,gloox,libstrophe,slixmpp,raw skip="" quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --small-runs) small_runs="$2"; shift 2 ;;
    --fast-runs) fast_runs="$2"; shift 2 ;;
    --real-sizes) real_sizes="$2"; shift 2 ;;
    --replay-sizes) replay_sizes="$2"; shift 2 ;;
    --pushes) pushes="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --skip) skip="$2"; shift 2 ;;
    --quick) quick=1; runs=1; small_runs=1; fast_runs=1; real_sizes=1000; replay_sizes=1000; pushes=1000; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="$here/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
export CARGO_TARGET_DIR="$target"
bin="$target/bench-clients"
mkdir -p "$bin"

echo "== build (cargo: $target)"
(cd "$root" && cargo build --release --lib --locked)
(cd "$here" && cargo build --release --locked --bins)
lib="$target/release/libxmpp_roster.so"
# The binary asks for the soname; a link beside it lets the rpath $ORIGIN find the build.
ln -sf "$lib" "$bin/libxmpp_roster.so.0"
cflags=(-O2 -g -Wall -Wextra)
cc "${cflags[@]}" -I"$root/include" "$here/clients/xr_client.c" -o "$bin/xr_client" -L"$target/release" -lxmpp_roster -Wl,-rpath,'$ORIGIN'
cc "${cflags[@]}" "$here/clients/raw_client.c" -o "$bin/raw_client"
cc "${cflags[@]}" "$here/clients/spawn.c" -o "$bin/xr_spawn"
cc "${cflags[@]}" "$here/clients/strophe_client.c" -o "$bin/strophe_client" $(pkg-config --cflags --libs libstrophe)
c++ "${cflags[@]}" "$here/clients/gloox_client.cpp" -o "$bin/gloox_client" -lgloox

criterion_dir=""
case ",$skip," in
  *,micro,*) ;;
  *)
    echo "== criterion micro-benchmarks"
    if [ "$quick" = 1 ]; then
      (cd "$here" && cargo bench --locked --bench micro -- --test)
    else
      rm -rf "$target/criterion"
      (cd "$here" && BENCH_QUICK=${BENCH_QUICK:-} cargo bench --locked --bench micro)
      criterion_dir="$target/criterion"
    fi
    ;;
esac

echo "== series"
/usr/bin/python3 "$here/driver/bench.py" \
  --bin-dir "$bin" --clients-dir "$here/clients" --lib "$lib" --python-path "$root/bindings/python" \
  --replay-bin "$target/release/xr-replay" --gen-bin "$target/release/xr-gen" --out "$out" \
  --real-sizes "$real_sizes" --replay-sizes "$replay_sizes" --runs "$runs" --small-runs "$small_runs" --fast-runs "$fast_runs" --timeout "$timeout" \
  --pushes "$pushes" --clients "$clients" --skip "$skip" --criterion-dir "$criterion_dir"
echo "== report: $out/report.md"
