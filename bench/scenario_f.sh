#!/usr/bin/env bash
# Scenario F of ../shared/bench: push scenario A's image (the busybox base plus one 300 MB
# context layer) to an empty local registry, and pull it back into an empty store. In the same
# run, skopeo (containers/image, the library Buildah pushes with) does the same copies, as the
# peer the ratios are measured against. Run bench/scenario_a.sh first: it leaves the image in
# WORK_DIR/store as a:cold.
# Usage: bench/scenario_f.sh CBUILD_BINARY [WORK_DIR]
set -euo pipefail
# With RESULTS=FILE in the environment, each figure is also appended to FILE as KEY=VALUE
# (bench/compare.sh reads them).
record() { if [ -n "${RESULTS:-}" ]; then echo "$1=$2" >> "$RESULTS"; fi; }
cbuild=$(realpath "$1")
work=${2:-/tmp/cbuild-bench}
store=$work/store
[ -f "$store/index.json" ] || { echo "run bench/scenario_a.sh first (no $store)" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
registry_dir=$(mktemp -d "$work/registry-XXXXXX")
cat > "$registry_dir/config.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $registry_dir/data
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$registry_dir/config.yml" > "$registry_dir/log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null; rm -rf "$registry_dir" "$work/pulled-cbuild" "$work/pulled-skopeo"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

host=127.0.0.1:$port
seconds() { /usr/bin/time -f "%e" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; cat "$work/time"; }

"$cbuild" --root "$store" tag a:cold "$host/bench/cbuild:1"
push_ours=$(seconds "$cbuild" --root "$store" push "$host/bench/cbuild:1")
push_skopeo=$(seconds skopeo copy -q --dest-tls-verify=false "oci:$store:a:cold" "docker://$host/bench/skopeo:1")
pull_ours=$(seconds "$cbuild" --root "$work/pulled-cbuild" pull "$host/bench/cbuild:1")
pull_skopeo=$(seconds skopeo copy -q --src-tls-verify=false "docker://$host/bench/cbuild:1" "oci:$work/pulled-skopeo:x")
"$cbuild" --root "$store" rm "$host/bench/cbuild:1" >/dev/null
record F_PUSH_CBUILD "$push_ours"; record F_PUSH_SKOPEO "$push_skopeo"
record F_PULL_CBUILD "$pull_ours"; record F_PULL_SKOPEO "$pull_skopeo"

awk -v po="$push_ours" -v ps="$push_skopeo" -v lo="$pull_ours" -v ls="$pull_skopeo" 'BEGIN {
  printf "scenario F (scenario A image: busybox + a 300 MB layer) to an empty local registry\n"
  printf "  push: cbuild %6.2f s   skopeo %6.2f s   cbuild / skopeo = %.2f   (Buildah published 4.7 s: %.2f; target <= 0.5)\n", po, ps, po / ps, po / 4.7
  printf "  pull: cbuild %6.2f s   skopeo %6.2f s   cbuild / skopeo = %.2f   (target <= 1.5)\n", lo, ls, lo / ls
}'
