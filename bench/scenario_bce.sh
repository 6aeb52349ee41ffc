#!/usr/bin/env bash
# Scenarios B, C and E of ../shared/bench (read its README), for the build cache and the
# parallel solver:
#   B: scenario A rebuilt with nothing changed (target <= 30 ms; BuildKit 0.92 s)
#   C: scenario A rebuilt after one line is appended to CHANGE_ME.txt (target <= 0.25x BuildKit,
#      whose published figure is 6.98 s)
#   E: three independent ~2 s CPU stages and a final stage copying from all three, against the
#      three stages' commands run side by side by hand in the same run (target <= 1.1x)
# Usage: bench/scenario_bce.sh CBUILD_BINARY [WORK_DIR]      (as root: RUN needs namespaces)
set -euo pipefail
# With RESULTS=FILE in the environment, each figure is also appended to FILE as KEY=VALUE
# (bench/compare.sh reads them).
record() { if [ -n "${RESULTS:-}" ]; then echo "$1=$2" >> "$RESULTS"; fi; }
cbuild=$(realpath "$1")
work=${2:-$(mktemp -d /tmp/cbuild-bench-XXXXXX)}
shared=$(cd "$(dirname "$0")/../../shared" && pwd)
mkdir -p "$work"
context=$work/ctxA
store=$work/store-bce

if [ ! -f "$context/CHANGE_ME.txt" ]; then
  echo "generating the context in $context ..."
  python3 "$shared/bench/gen_context.py" "$context" >/dev/null
fi
cp "$shared/bench/scenarios/A-cold-copy/Dockerfile" "$context/Dockerfile"
base=$work/busybox-base
source "$(dirname "$0")/busybox_base.sh"
make_busybox_base "$base"

# Appends the wall seconds of "$@" to the array named $1. The clock is bash's own: forking `date`
# around a 30 ms build would add its own start-up to the figure.
timed() {
  local -n into=$1
  shift
  local start=${EPOCHREALTIME/,/.}
  "$@"
  local end=${EPOCHREALTIME/,/.}
  into+=("$(awk -v a="$end" -v b="$start" 'BEGIN { print a - b }')")
}
build() { "$cbuild" --root "$store" --build-arg BASE=busybox:bench "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

runs=${RUNS:-5}
rm -rf "$store"
"$cbuild" --root "$store" -t busybox:bench "$base" >/dev/null 2>&1
cp "$context/CHANGE_ME.txt" "$work/CHANGE_ME.orig"
build -t a:bench "$context"

declare -a b c
for i in $(seq "$runs"); do
  timed b build -t a:bench "$context"
  grep -q CACHED "$work/out" || { echo "scenario B: the rebuild was not cached" >&2; cat "$work/out" >&2; exit 1; }
  echo "changed line $i $(date +%s%N)" >> "$context/CHANGE_ME.txt"
  timed c build -t a:bench "$context"
done
cp "$work/CHANGE_ME.orig" "$context/CHANGE_ME.txt"
b_m=$(median "${b[@]}"); c_m=$(median "${c[@]}")

# E: calibrate MB so one stage takes about 2 s here, as ../shared/bench/README says.
mb=${E_MB:-256}
# The same applets the image runs (busybox sha256sum has no SHA-NI: coreutils would be unfair).
stage_cmd() { /bin/busybox dd if=/dev/zero bs=1M count="$mb" 2>/dev/null | /bin/busybox sha256sum > /dev/null; }
declare -a one
timed one stage_cmd
mb=$(awk -v t="${one[0]}" -v m="$mb" 'BEGIN { v = int(m * 2.0 / t); print (v < 16 ? 16 : v) }')
three_by_hand() { stage_cmd & stage_cmd & stage_cmd & wait; }
declare -a e e3 hand
ectx=$work/ctxE
mkdir -p "$ectx"
cp "$shared/bench/scenarios/E-multistage/Dockerfile" "$ectx/Dockerfile"
for i in $(seq "$runs"); do
  timed e build --no-cache --build-arg MB="$mb" -t e:bench "$ectx"
  timed e3 build --no-cache --jobs 3 --build-arg MB="$mb" -t e:bench "$ectx"
  timed hand three_by_hand
done
e_m=$(median "${e[@]}"); e3_m=$(median "${e3[@]}"); hand_m=$(median "${hand[@]}")
record B_CBUILD "$b_m"; record C_CBUILD "$c_m"; record E_CBUILD "$e_m"; record E3_CBUILD "$e3_m"
record E_HAND "$hand_m"; record E_MB "$mb"; record E_JOBS "$(nproc)"; record BCE_RUNS "$runs"

awk -v b="$b_m" -v c="$c_m" -v e="$e_m" -v e3="$e3_m" -v h="$hand_m" -v cores="$(nproc)" -v n="$runs" -v mb="$mb" 'BEGIN {
  printf "scenarios B, C, E (median of %d)\n", n
  printf "  B no-op rebuild of A          %7.3f s  (target <= 0.030 s; BuildKit 0.92 s)\n", b
  printf "  C one file changed            %7.3f s  cbuild / BuildKit (6.98 s) = %.2f (target <= 0.25)\n", c, c / 6.98
  printf "  E by hand, 3 side by side     %7.3f s  (busybox dd | sha256sum, MB=%d)\n", h, mb
  printf "  E --jobs %d (default: cores)   %7.3f s  ratio %.2f (target <= 1.1)\n", cores, e, e / h
  printf "  E --jobs 3                    %7.3f s  ratio %.2f\n", e3, e3 / h
}'
rm -rf "$store"
