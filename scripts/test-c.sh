#!/usr/bin/env bash
# The C ABI, the C++ wrapper and the CMake package, against real servers:
#  1. configure + build (cargo runs inside the CMake build dir) + CTest: the C test (shared and
#     static), the C++ test, both under valgrind memcheck too, and both examples, each against
#     Prosody 0.12 and (`*_ejabberd` tests, the static-library variant excepted) ejabberd 23.01;
#     XMPP_ROSTER_TEST_EJABBERD=OFF in the environment leaves ejabberd out;
#  2. install to a temp prefix, then three consumers: find_package(), add_subdirectory(), pkg-config.
# Everything happens in a fresh temp dir that is removed afterwards, so runs are independent.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/xmpp-roster-c.XXXXXX")
trap 'rm -rf "$work"' EXIT
build=$work/build
prefix=$work/prefix
jobs=${XMPP_ROSTER_JOBS:-2}

echo "--- configure and build ($build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DXMPP_ROSTER_VALGRIND=ON -DCMAKE_INSTALL_PREFIX="$prefix" \
      -DXMPP_ROSTER_TEST_EJABBERD="${XMPP_ROSTER_TEST_EJABBERD:-ON}"
cmake --build "$build" -j "$jobs"
server=$build/cargo/release/xmpp-test-server
users=(--user juliet:secret --user romeo:secret --user mallory:secret --user benvolio:secret)

echo "--- ctest"
(cd "$build" && ctest --output-on-failure -j "$jobs")
echo "--- test counts and valgrind summaries"
awk '/^[0-9]+\/[0-9]+ Testing: / { test = $3 }
     /^server: |^[0-9]+ passed, [0-9]+ failed|registrations finalized|exported functions|ERROR SUMMARY|definitely lost|indirectly lost|possibly lost/ {
       sub(/^==[0-9]+== */, "valgrind: "); print test ": " $0 }' "$build/Testing/Temporary/LastTest.log"

echo "--- install to $prefix"
cmake --install "$build"
for f in lib/libxmpp_roster.so.0.1.0 lib/libxmpp_roster.so.0 lib/libxmpp_roster.so lib/libxmpp_roster.a \
         include/xmpp_roster.h include/xmpp_roster.hpp lib/pkgconfig/xmpp_roster.pc \
         lib/cmake/xmpp_roster/xmpp_rosterConfig.cmake lib/cmake/xmpp_roster/xmpp_rosterConfigVersion.cmake; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
[ "$(readlink "$prefix/lib/libxmpp_roster.so.0")" = libxmpp_roster.so.0.1.0 ] || { echo "bad soname link" >&2; exit 1; }

# The consumers below check packaging and linking; they run against Prosody only (the tests
# above cover behaviour on both servers).
echo "--- consumer: find_package(xmpp_roster)"
cmake -S "$root/tests/cmake/find_package" -B "$work/fp" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
cmake --build "$work/fp" -j "$jobs"
readelf -d "$work/fp/consumer_c" | grep -q 'NEEDED.*libxmpp_roster.so.0\]'
if readelf -d "$work/fp/consumer_c_static" | grep -q 'NEEDED.*libxmpp_roster'; then
  echo "consumer_c_static depends on the shared library" >&2; exit 1
fi
for exe in consumer_c consumer_c_static consumer_cpp; do
  "$work/fp/$exe"
  "$server" "${users[@]}" -- "$work/fp/$exe"
done

echo "--- consumer: add_subdirectory()"
# Shares the cargo target dir of the main build so that the Rust code is not compiled twice.
cmake -S "$root/tests/cmake/add_subdirectory" -B "$work/sub" -DXMPP_ROSTER_SOURCE_DIR="$root" \
      -DXMPP_ROSTER_CARGO_TARGET_DIR="$build/cargo" -DCMAKE_BUILD_TYPE=Release
cmake --build "$work/sub" -j "$jobs"
"$server" "${users[@]}" -- "$work/sub/consumer_c"
"$server" "${users[@]}" -- "$work/sub/consumer_cpp"
cmake --install "$work/sub" --prefix "$work/sub-prefix"
if [ -n "$(find "$work/sub-prefix" -type f 2>/dev/null)" ]; then
  echo "add_subdirectory() installed files:" >&2; find "$work/sub-prefix" -type f >&2; exit 1
fi
if ! ctest --test-dir "$work/sub" -N | grep -q "Total Tests: 0"; then
  echo "add_subdirectory() registered the library's tests" >&2; exit 1
fi

echo "--- consumer: pkg-config"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ "$(pkg-config --modversion xmpp_roster)" = 0.1.0 ]
# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -Werror -o "$work/pc_consumer" "$root/tests/cmake/consumer.c" $(pkg-config --cflags --libs xmpp_roster)
LD_LIBRARY_PATH="$prefix/lib" "$server" "${users[@]}" -- "$work/pc_consumer"

echo "--- C/C++ tests, install and consumers passed"
