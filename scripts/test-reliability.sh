#!/usr/bin/env bash
# Reliability tests (docs/RELIABILITY.md): the fuzz targets' properties as a plain cargo test
# (saved crashes, seed corpora, seeded random mutations), the extra fault tests, the 200-client
# load test and the soak test. Everything runs against 127.0.0.1 only and is bounded in count and
# time; the whole script takes about 3 minutes on 2 cores once the tests are built.
#
# cargo-fuzz itself is not run by default: installing it (~1.5 min) and building the targets with
# sanitizer and coverage instrumentation (~2.5 min) would take most of the budget before the first
# execution. FUZZ_SECONDS=N runs each cargo-fuzz target for N seconds too (installing cargo-fuzz
# if it is missing; needs nightly features, enabled on stable with RUSTC_BOOTSTRAP=1).
#
# Knobs: SOAK_SECONDS (default 75), LOAD_CLIENTS (default 200), FUZZ_REGRESSION_ITERATIONS
# (mutated inputs per target, default 3000), FUZZ_SECONDS (default 0: no cargo-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
echo "--- fuzz targets as cargo tests, extra fault tests"
cargo test --locked --test fuzz_regressions --test faults_extra

echo "--- load: ${LOAD_CLIENTS:-200} clients against one Prosody; soak: ${SOAK_SECONDS:-75} s"
cargo test --locked --test load --test soak -- --ignored --test-threads=1 --nocapture

fuzz_seconds=${FUZZ_SECONDS:-0}
if [ "$fuzz_seconds" -gt 0 ]; then
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "--- installing cargo-fuzz"
    cargo install cargo-fuzz --locked
  fi
  for target in stream stanza scram jid; do
    case $target in
      jid) dict=fuzz/dict/jid.dict ;;
      scram) dict=fuzz/dict/scram.dict ;;
      *) dict=fuzz/dict/xml.dict ;;
    esac
    work=$(mktemp -d)
    echo "--- cargo fuzz run $target for ${fuzz_seconds} s"
    # The seed corpus is read-only input; new units go to a temporary dir.
    status=0
    RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a --fuzz-dir fuzz "$target" "$work" "fuzz/corpus/$target" -- \
      -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -dict="$dict" \
      -print_final_stats=1 >"$work.log" 2>&1 || status=$?
    grep -E '^(stat::|Done)|panicked|ERROR|SUMMARY|Test unit written' "$work.log" || true
    rm -rf "$work" "$work.log"
    [ "$status" -eq 0 ] || { echo "cargo fuzz run $target failed (crash saved under fuzz/artifacts/$target)"; exit 1; }
  done
fi
echo "=== reliability tests passed in $((SECONDS - started)) s"
