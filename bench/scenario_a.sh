#!/usr/bin/env bash
# Scenario A of ../shared/bench (read its README): `FROM busybox` + `COPY . /app` of the
# generated 300 MB / 20,006-file context, cold, into the local store. In the same run it times
# the floor for the same bytes (read + sha256 + gzip with ISA-L, and with zstd) and reports
# cbuild's time against it and against BuildKit's published figure, plus peak memory.
# Usage: bench/scenario_a.sh CBUILD_BINARY [WORK_DIR]
set -euo pipefail
# With RESULTS=FILE in the environment, each figure is also appended to FILE as KEY=VALUE
# (bench/compare.sh reads them).
record() { if [ -n "${RESULTS:-}" ]; then echo "$1=$2" >> "$RESULTS"; fi; }
cbuild=$(realpath "$1")
work=${2:-$(mktemp -d /tmp/cbuild-bench-XXXXXX)}
shared=$(cd "$(dirname "$0")/../../shared" && pwd)
mkdir -p "$work"
context=$work/ctxA
store=$work/store

if [ ! -f "$context/CHANGE_ME.txt" ]; then
  echo "generating the context in $context ..."
  python3 "$shared/bench/gen_context.py" "$context" >/dev/null
fi
cp "$shared/bench/scenarios/A-cold-copy/Dockerfile" "$context/Dockerfile"

base=$work/busybox-base
source "$(dirname "$0")/busybox_base.sh"
make_busybox_base "$base"

cold() {
  sync
  echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(cannot drop the page cache here: warm runs)" >&2
}

seconds() { /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; cat "$work/time"; }

runs=${RUNS:-3}
declare -a ours floor_gzip floor_zstd
for i in $(seq "$runs"); do
  rm -rf "$store"
  "$cbuild" --root "$store" -t busybox:bench "$base" >/dev/null 2>&1
  cold
  read -r t rss < <(seconds "$cbuild" --root "$store" --build-arg BASE=busybox:bench -t a:cold "$context")
  ours+=("$t"); peak_kb=$rss
  cold
  read -r t _ < <(seconds bash -c "cd '$context' && tar -cf - . | tee >(openssl dgst -sha256 >/dev/null) | igzip -1 -c | openssl dgst -sha256")
  floor_gzip+=("$t")
  cold
  read -r t _ < <(seconds bash -c "cd '$context' && tar -cf - . | tee >(openssl dgst -sha256 >/dev/null) | zstd -3 -T0 -c | openssl dgst -sha256")
  floor_zstd+=("$t")
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ours_m=$(median "${ours[@]}")
gzip_m=$(median "${floor_gzip[@]}")
zstd_m=$(median "${floor_zstd[@]}")
buildkit=11.6  # ../shared/bench/README.md, same kind of machine
record A_CBUILD "$ours_m"; record A_FLOOR_GZIP "$gzip_m"; record A_FLOOR_ZSTD "$zstd_m"
record A_PEAK_MB "$((peak_kb / 1024))"; record A_RUNS "$runs"
awk -v o="$ours_m" -v g="$gzip_m" -v z="$zstd_m" -v b="$buildkit" -v rss="$peak_kb" -v n="$runs" 'BEGIN {
  printf "scenario A (COPY 300 MB / 20,006 files, cold, median of %d)\n", n
  printf "  cbuild (gzip, ISA-L)          %6.2f s   peak RSS %d MB (target < 100 MB)\n", o, rss / 1024
  printf "  floor tar|sha256|igzip -1     %6.2f s   cbuild / floor = %.2f (target <= 2)\n", g, o / g
  printf "  floor tar|sha256|zstd -3 -T0  %6.2f s\n", z
  printf "  BuildKit (published)          %6.2f s   cbuild / BuildKit = %.2f (target <= 0.25)\n", b, o / b
}'
