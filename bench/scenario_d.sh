#!/usr/bin/env bash
# Scenario D of ../shared/bench (read its README): 30 tiny RUN steps on busybox, cold, against
# one RUN (D1); (D - D1) / 29 is the marginal cost of a RUN step (target <= 15 ms; BuildKit
# 395 ms, Buildah 328-569 ms, a bare `runc run` of echo 31 ms). Dn is D with --network none.
# Then the RUN-layer benchmark: a step that writes one 1 GB file, its layer's cost (the build
# minus the same step writing to /dev/null) against compressing that file alone with the same
# compressor (target <= 1.5x).
# Usage: bench/scenario_d.sh CBUILD_BINARY [WORK_DIR]      (as root: namespaces, overlayfs)
set -euo pipefail
# With RESULTS=FILE in the environment, each figure is also appended to FILE as KEY=VALUE
# (bench/compare.sh reads them).
record() { if [ -n "${RESULTS:-}" ]; then echo "$1=$2" >> "$RESULTS"; fi; }
cbuild=$(realpath "$1")
work=${2:-$(mktemp -d /tmp/cbuild-bench-XXXXXX)}
shared=$(cd "$(dirname "$0")/../../shared" && pwd)
mkdir -p "$work"
store=$work/store-d

base=$work/busybox-base
source "$(dirname "$0")/busybox_base.sh"
make_busybox_base "$base"
ctx=$work/ctxD
mkdir -p "$ctx"
cp "$shared/bench/scenarios/D-run-steps/Dockerfile" "$ctx/D.Dockerfile"
cp "$shared/bench/scenarios/D1-one-run/Dockerfile" "$ctx/D1.Dockerfile"
sed 's/^RUN /RUN --network=none /' "$ctx/D.Dockerfile" > "$ctx/Dn.Dockerfile"

# A cold build: a fresh store holding only the base image (its layer not yet unpacked).
timed_build() {
  rm -rf "$store"
  "$cbuild" --root "$store" -t busybox:bench "$base" >/dev/null 2>&1
  local start end
  start=$(date +%s.%N)
  "$cbuild" --root "$store" --build-arg BASE=busybox:bench -f "$ctx/$1" -t "d:$1" "$ctx" >"$work/out" 2>&1 \
    || { cat "$work/out" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v a="$end" -v b="$start" 'BEGIN { print a - b }'
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

runs=${RUNS:-5}
declare -a d1 d dn
for i in $(seq "$runs"); do
  d1+=("$(timed_build D1.Dockerfile)")
  d+=("$(timed_build D.Dockerfile)")
  dn+=("$(timed_build Dn.Dockerfile)")
done
d1_m=$(median "${d1[@]}"); d_m=$(median "${d[@]}"); dn_m=$(median "${dn[@]}")
record D1_CBUILD "$d1_m"; record D_CBUILD "$d_m"; record DN_CBUILD "$dn_m"; record D_RUNS "$runs"
awk -v d1="$d1_m" -v d="$d_m" -v dn="$dn_m" -v n="$runs" 'BEGIN {
  printf "scenario D (busybox, cold, median of %d)\n", n
  printf "  D1 one RUN                    %6.3f s   (BuildKit 0.39 s)\n", d1
  printf "  D 30 RUNs                     %6.3f s   (BuildKit 11.9 s)\n", d
  printf "  marginal cost of one RUN      %6.1f ms  (target <= 15 ms; BuildKit 395 ms, runc run 31 ms)\n", (d - d1) / 29 * 1000
  printf "  Dn 30 RUNs --network none     %6.3f s   (%.1f ms per step; BuildKit 84 ms)\n", dn, (dn - d1) / 29 * 1000
}'

# The 1 GB layer: the step writing to /big minus the same step writing to /dev/null is what
# turning the file into a layer costs (diff, tar, sha256 twice, igzip -1, the blob and the
# snapshot made durable). The floor is the same difference for the plain tools: write the file,
# compress it with igzip -1 next to it and sync, minus writing to /dev/null. Both pay the disk.
printf 'ARG BASE\nFROM ${BASE}\nRUN head -c 1073741824 /dev/urandom > /big\n' > "$ctx/big.Dockerfile"
printf 'ARG BASE\nFROM ${BASE}\nRUN head -c 1073741824 /dev/urandom > /dev/null\n' > "$ctx/null.Dockerfile"
big=$(timed_build big.Dockerfile)
null=$(timed_build null.Dockerfile)
timed() {
  local start end
  start=$(date +%s.%N)
  bash -c "$1"
  end=$(date +%s.%N)
  awk -v a="$end" -v b="$start" 'BEGIN { print a - b }'
}
plain_big=$(timed "head -c 1073741824 /dev/urandom > '$work/big.bin' && igzip -1 -c '$work/big.bin' > '$work/big.gz' && sync")
plain_null=$(timed "head -c 1073741824 /dev/urandom > /dev/null")
rm -f "$work/big.bin" "$work/big.gz"
record BIG_LAYER_CBUILD "$(awk -v a="$big" -v b="$null" 'BEGIN { print a - b }')"
record BIG_LAYER_FLOOR "$(awk -v a="$plain_big" -v b="$plain_null" 'BEGIN { print a - b }')"
awk -v big="$big" -v null="$null" -v pb="$plain_big" -v pn="$plain_null" 'BEGIN {
  printf "RUN writing one 1 GB file (urandom)\n"
  printf "  cbuild: layer cost (build - same step to /dev/null)     %6.2f s\n", big - null
  printf "  floor: igzip -1 of the file + sync (minus the same head) %6.2f s   ratio %.2f (target <= 1.5)\n", pb - pn, (big - null) / (pb - pn)
}'
rm -rf "$store"
