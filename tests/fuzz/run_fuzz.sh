#!/usr/bin/env bash
# Builds the parser fuzz target with clang and runs it for CBUILD_FUZZ_SECONDS (default 60),
# seeded with BuildKit's parser cases and a slice of the corpus. Any crash, leak, sanitizer
# report or input slower than 10 s fails the test. Exit 77 (skipped) when clang is missing,
# which CI=true turns into a failure.
set -euo pipefail
source_dir=$1 build_dir=$2 shared_dir=$3
seconds=${CBUILD_FUZZ_SECONDS:-60}

if ! command -v clang++ >/dev/null; then
  echo "clang++ is not installed (scripts/install-deps installs it)"
  [ "${CI:-}" = true ] && exit 1
  exit 77
fi

cmake -S "$source_dir" -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCBUILD_FUZZ=ON -DCBUILD_SHARED_DIR="$shared_dir" >/dev/null
cmake --build "$build_dir" --target parser_fuzz >/dev/null

seeds="$build_dir/seeds"
rm -rf "$seeds" && mkdir -p "$seeds"
i=0
for f in "$shared_dir"/conformance/buildkit/parser/*/*/Dockerfile \
         $(ls "$shared_dir"/corpus/*ockerfile* | head -300); do
  cp "$f" "$seeds/seed-$i"; i=$((i + 1))
done
work="$build_dir/corpus"
mkdir -p "$work"
cd "$build_dir"
"$build_dir/tests/fuzz/parser_fuzz" "$work" "$seeds" -max_total_time="$seconds" -timeout=10 \
  -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 2>&1 | tail -n 25
