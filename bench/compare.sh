#!/usr/bin/env bash
# Scenarios A-F of ../shared/bench (read its README) for cbuild and, on the same machine and in
# the same run, for each peer that can run here: BuildKit (through dockerd, as that README's
# "How the peers were run" says) and Buildah (`buildah bud --layers`, its own --root/--runroot
# in WORK_DIR). A peer that is not installed or cannot start is shown with its published figure
# from ../shared/bench/README.md, marked "published". Writes a Markdown table of wall seconds and
# ratios (cbuild / peer; below 1 means cbuild is faster) to stdout and to WORK_DIR/compare.md.
#
# Usage: bench/compare.sh CBUILD_BINARY [WORK_DIR]        (as root: RUN needs namespaces)
# Environment:
#   RUNS=N              runs per figure, medians reported (default 3)
#   PEERS="buildkit buildah"   which peers to try (default both; "" measures cbuild only)
#   DOCKER=PATH         the docker client (default /usr/bin/docker, else `docker` on PATH); a client
#                       that needs buildx must have it. DOCKER_HOST is honoured; without a
#                       reachable daemon, compare.sh starts a private containerd and dockerd in
#                       WORK_DIR when both are installed, and stops them at the end.
#   BUILDAH=PATH        the buildah binary (default `buildah` on PATH)
#   BUILDAH_ISOLATION=oci|chroot   (default oci, with --runtime runc)
# The cbuild figures come from the scenario scripts beside this one (scenario_a.sh, _f, _d and
# _bce), which append KEY=VALUE lines to $RESULTS; their own reports go to stderr.
set -euo pipefail
cbuild=$(realpath "$1")
work=$(mkdir -p "${2:-/tmp/cbuild-bench}" && realpath "${2:-/tmp/cbuild-bench}")
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-3}
peers=${PEERS-buildkit buildah}
results=$work/results.txt
: > "$results"

# --- published figures (../shared/bench/README.md, 2 cores, Debian 12, medians of 3) ---------
declare -A published=(
  [buildkit.A]=11.6 [buildkit.B]=0.92 [buildkit.C]=6.98 [buildkit.F]=18.9
  [buildkit.D1]=0.39 [buildkit.D]=11.9 [buildkit.Dstep]=0.395 [buildkit.Dn]=2.53 [buildkit.Dnstep]=0.084
  [buildkit.E]=3.46
  [buildah-oci.A]=11.7 [buildah-oci.B]=11.8 [buildah-oci.C]=21.4 [buildah-oci.F]=4.97
  [buildah-oci.D1]=0.60 [buildah-oci.D]=17.1 [buildah-oci.Dstep]=0.569 [buildah-oci.Dn]=9.32
  [buildah-oci.E]=8.19 [buildah-oci.E3]=4.80
  [buildah-chroot.A]=12.0 [buildah-chroot.B]=10.1 [buildah-chroot.C]=13.2 [buildah-chroot.F]=4.73
  [buildah-chroot.D1]=0.30 [buildah-chroot.D]=9.81 [buildah-chroot.Dstep]=0.328
  [buildah-chroot.E]=7.62 [buildah-chroot.E3]=4.80
)

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
record() { echo "$1=$2" >> "$results"; }
get() { awk -F= -v k="$1" '$1 == k { v = $2 } END { print v }' "$results"; }
cold() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
log() { echo "compare.sh: $*" >&2; }

# --- cbuild ----------------------------------------------------------------------------------
log "cbuild: scenario A, then F, D, B/C/E (RUNS=$runs) in $work"
RESULTS=$results bash "$here/scenario_a.sh" "$cbuild" "$work" >&2
RESULTS=$results bash "$here/scenario_f.sh" "$cbuild" "$work" >&2
RESULTS=$results bash "$here/scenario_d.sh" "$cbuild" "$work" >&2
RESULTS=$results bash "$here/scenario_bce.sh" "$cbuild" "$work" >&2

context=$work/ctxA  # made by scenario_a.sh, its Dockerfile at the root
mb=$(get E_MB)
ctx_d=$work/ctxD    # made by scenario_d.sh: D.Dockerfile, D1.Dockerfile
ctx_e=$work/ctxE    # made by scenario_bce.sh

# The base image for the peers, from the same busybox context the scripts use: a docker tarball
# for `docker load`, an OCI archive for Buildah.
peer_store=$work/store-peers
if [ -n "$peers" ]; then
  rm -rf "$peer_store"
  "$cbuild" --root "$peer_store" -t busybox:bench -o "type=docker,dest=$work/busybox-docker.tar" "$work/busybox-base" >/dev/null 2>&1
  "$cbuild" --root "$peer_store" -t busybox:bench -o "type=oci,dest=$work/busybox-oci.tar" "$work/busybox-base" >/dev/null 2>&1
fi

# An empty local registry (distribution's docker-registry), one per push so that no peer finds
# blobs already there.
registry_pid=
registry_dir=
start_registry() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  registry_dir=$(mktemp -d "$work/registry-XXXXXX")
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$registry_dir" "$port" > "$registry_dir/config.yml"
  docker-registry serve "$registry_dir/config.yml" > "$registry_dir/log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  registry_host=127.0.0.1:$port
}
stop_registry() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  if [ -n "$registry_dir" ]; then rm -rf "$registry_dir"; fi
  registry_pid='' registry_dir=''
}

daemon_pids=()
cleanup() {
  stop_registry
  local pid
  for pid in "${daemon_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${daemon_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# Times "$@" (output to $work/peer.log); fails the peer, not the script, when it fails.
# The clock is bash's own, as in scenario_bce.sh, so that no fork is timed with the build.
peer_time() {
  local start=${EPOCHREALTIME/,/.}
  if ! "$@" > "$work/peer.log" 2>&1; then tail -n 20 "$work/peer.log" >&2; return 1; fi
  local end=${EPOCHREALTIME/,/.}
  awk -v a="$end" -v b="$start" 'BEGIN { print a - b }'
}

# Measures one peer through hooks: <peer>_reset (an empty build cache, the base image present),
# <peer>_build ARGS... (a build; ARGS as for docker build), <peer>_push IMAGE REF. Records
# <KEY>_<PEER> for A B C D1 D Dn E F.
measure_peer() {
  local p=$1 key=$2 i t
  local -a a=() b=() c=() d1=() d=() dn=() e=() f=()
  cp "$context/CHANGE_ME.txt" "$work/CHANGE_ME.peer"
  for i in $(seq "$runs"); do
    "${p}_reset"; cold
    t=$(peer_time "${p}_build" --build-arg BASE=busybox:bench -t a-peer:bench "$context") || return 1; a+=("$t")
    t=$(peer_time "${p}_build" --build-arg BASE=busybox:bench -t a-peer:bench "$context") || return 1; b+=("$t")
    echo "changed line $i $(date +%s%N)" >> "$context/CHANGE_ME.txt"
    t=$(peer_time "${p}_build" --build-arg BASE=busybox:bench -t a-peer:bench "$context") || return 1; c+=("$t")
    start_registry
    t=$(peer_time "${p}_push" a-peer:bench "$registry_host/bench/$p:1") || { stop_registry; return 1; }; f+=("$t")
    stop_registry
  done
  cp "$work/CHANGE_ME.peer" "$context/CHANGE_ME.txt"
  for i in $(seq "$runs"); do
    "${p}_reset"; t=$(peer_time "${p}_build" --build-arg BASE=busybox:bench -f "$ctx_d/D1.Dockerfile" -t d-peer:bench "$ctx_d") || return 1; d1+=("$t")
    "${p}_reset"; t=$(peer_time "${p}_build" --build-arg BASE=busybox:bench -f "$ctx_d/D.Dockerfile" -t d-peer:bench "$ctx_d") || return 1; d+=("$t")
    # Dn: D with --network none for every RUN, given as the build flag (Buildah 1.28 does not
    # read RUN --network).
    "${p}_reset"; t=$(peer_time "${p}_build" --network none --build-arg BASE=busybox:bench -f "$ctx_d/D.Dockerfile" -t d-peer:bench "$ctx_d") || return 1; dn+=("$t")
    "${p}_reset"; t=$(peer_time "${p}_build" "${E_FLAGS[@]}" --build-arg BASE=busybox:bench --build-arg MB="$mb" -t e-peer:bench "$ctx_e") || return 1; e+=("$t")
  done
  record "A_$key" "$(median "${a[@]}")"; record "B_$key" "$(median "${b[@]}")"; record "C_$key" "$(median "${c[@]}")"
  record "F_$key" "$(median "${f[@]}")"
  record "D1_$key" "$(median "${d1[@]}")"; record "D_$key" "$(median "${d[@]}")"; record "DN_$key" "$(median "${dn[@]}")"
  record "E_$key" "$(median "${e[@]}")"
}

# --- BuildKit through dockerd ----------------------------------------------------------------
docker_bin=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || command -v docker || true)}
dk() { DOCKER_BUILDKIT=1 "$docker_bin" "$@"; }
buildkit_reset() {
  dk builder prune -af >/dev/null 2>&1 || true
  dk rmi -f a-peer:bench d-peer:bench e-peer:bench >/dev/null 2>&1 || true
}
buildkit_build() { dk build "$@"; }
buildkit_push() {
  local status=0
  dk tag "$1" "$2" && dk push "$2" || status=$?
  dk rmi "$2" >/dev/null 2>&1 || true
  return "$status"
}
start_dockerd() {
  # A private containerd and dockerd, state in WORK_DIR, sockets there.
  command -v dockerd >/dev/null && command -v containerd >/dev/null && [ "$(id -u)" = 0 ] || return 1
  local dir=$work/docker
  mkdir -p "$dir"
  containerd --address "$dir/containerd.sock" --root "$dir/containerd-root" --state "$dir/containerd-state" > "$dir/containerd.log" 2>&1 &
  daemon_pids+=($!)
  for _ in $(seq 100); do [ -S "$dir/containerd.sock" ] && break; sleep 0.1; done
  # shellcheck disable=SC2086  # DOCKERD_ARGS is a list of flags
  dockerd --containerd="$dir/containerd.sock" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/dockerd.pid" -H "unix://$dir/docker.sock" ${DOCKERD_ARGS:-} > "$dir/dockerd.log" 2>&1 &
  daemon_pids+=($!)
  export DOCKER_HOST=unix://$dir/docker.sock
  for _ in $(seq 300); do "$docker_bin" info >/dev/null 2>&1 && return 0; sleep 0.1; done
  tail -n 20 "$dir/dockerd.log" >&2
  return 1
}
try_buildkit() {
  [ -n "$docker_bin" ] || { log "BuildKit: no docker client"; return 1; }
  if ! "$docker_bin" info >/dev/null 2>&1; then
    start_dockerd || { log "BuildKit: no reachable dockerd, and none could be started here"; return 1; }
  fi
  # The client must be able to build with BuildKit (a newer client needs buildx for that).
  local probe=$work/buildkit-probe
  mkdir -p "$probe"
  printf 'FROM scratch\nLABEL probe=1\n' > "$probe/Dockerfile"
  dk build -q "$probe" >/dev/null 2>&1 || { log "BuildKit: \`DOCKER_BUILDKIT=1 $docker_bin build\` does not work here"; return 1; }
  dk load -i "$work/busybox-docker.tar" >/dev/null || return 1
  E_FLAGS=(--no-cache)
  measure_peer buildkit BUILDKIT
}

# --- Buildah -----------------------------------------------------------------------------------
buildah_bin=${BUILDAH:-$(command -v buildah || true)}
isolation=${BUILDAH_ISOLATION:-oci}
bh() { "$buildah_bin" --root "$work/buildah/root" --runroot "$work/buildah/runroot" "$@"; }
buildah_reset() {
  bh rm -a >/dev/null 2>&1 || true
  bh rmi -af >/dev/null 2>&1 || true
  rm -rf "$work/buildah"
  local id
  id=$(bh pull -q "oci-archive:$work/busybox-oci.tar" | tail -n 1)
  bh tag "$id" localhost/busybox:bench
}
buildah_build() {
  local -a runtime=()
  [ "$isolation" = oci ] && runtime=(--runtime runc)
  # BASE=busybox:bench resolves to localhost/busybox:bench (short names try localhost first).
  local -a args=("$@")
  args=("${args[@]/#BASE=busybox:bench/BASE=localhost/busybox:bench}")
  bh bud -q --layers --pull=false --isolation "$isolation" "${runtime[@]}" "${args[@]}"
}
buildah_push() { bh push -q --tls-verify=false "$1" "docker://$2"; }
try_buildah() {
  [ -n "$buildah_bin" ] || { log "Buildah: not installed"; return 1; }
  [ "$(id -u)" = 0 ] || { log "Buildah: run as root for --isolation $isolation"; return 1; }
  buildah_reset || { log "Buildah: cannot import the base image"; return 1; }
  E_FLAGS=(--no-cache)
  measure_peer buildah BUILDAH || return 1
  # E again with --jobs 3 (Buildah builds stages one after another by default).
  local -a e3=()
  local i t
  for i in $(seq "$runs"); do
    t=$(peer_time buildah_build --jobs 3 --no-cache --build-arg BASE=busybox:bench --build-arg MB="$mb" -t e-peer:bench "$ctx_e") || return 1
    e3+=("$t")
  done
  record E3_BUILDAH "$(median "${e3[@]}")"
}

measured_buildkit=false measured_buildah=false
for peer in $peers; do
  case $peer in
    buildkit) if try_buildkit; then measured_buildkit=true; else log "BuildKit: using the published figures"; fi ;;
    buildah) if try_buildah; then measured_buildah=true; else log "Buildah: using the published figures"; fi ;;
    *) log "unknown peer \`$peer\` (buildkit, buildah)"; exit 2 ;;
  esac
done

# --- the table ----------------------------------------------------------------------------------
# cell PEERKEY PUBKEY SCENARIO: the measured figure, else the published one marked.
peer_value() {  # prints "value measured|published" or nothing
  local measured=$1 key=$2 pub=$3
  if [ "$measured" = true ]; then
    local v; v=$(get "$key")
    [ -n "$v" ] && { echo "$v measured"; return; }
  fi
  [ -n "${published[$pub]:-}" ] && echo "${published[$pub]} published"
}
row() {  # row LABEL CBUILD_VALUE BUILDKIT_SPEC BUILDAH_SPEC UNIT NOTE
  # The label and note go through the environment: awk -v would read their backslashes.
  ROW_LABEL=$1 ROW_NOTE=$6 awk -v o="$2" -v bk="$3" -v bh="$4" -v u="$5" '
    function fmt(v) { return u == "ms" ? sprintf("%.1f ms", v * 1000) : sprintf("%.3g s", v) }
    function cell(spec,   f) {
      if (spec == "") return "— | —"
      split(spec, f, " ")
      return fmt(f[1]) (f[2] == "published" ? " (published)" : "") " | " (o == "" ? "—" : sprintf("%.2f×", o / f[1]))
    }
    BEGIN { printf "| %s | %s | %s | %s | %s |\n", ENVIRON["ROW_LABEL"], (o == "" ? "—" : fmt(o)), cell(bk), cell(bh), ENVIRON["ROW_NOTE"] }'
}
f2() { awk -v a="$1" 'BEGIN { printf "%.2f", a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "—"; else printf "%.2f", a / b }'; }
step() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print ""; else print (a - b) / 29 }'; }

bk_spec() { peer_value "$measured_buildkit" "$1_BUILDKIT" "buildkit.$2"; }
bh_spec() { peer_value "$measured_buildah" "$1_BUILDAH" "buildah-$isolation.$2"; }
derived() {  # derived PEER MEASURED D_KEY D1_KEY PUB_STEP: the per-step figure
  local measured=$2
  if [ "$measured" = true ] && [ -n "$(get "$3_$1")" ]; then
    echo "$(step "$(get "$3_$1")" "$(get "D1_$1")") measured"
  elif [ -n "${published[$5]:-}" ]; then
    echo "${published[$5]} published"
  fi
}

{
  echo "## cbuild and its peers, scenarios of ../shared/bench ($(nproc) cores, $(date -u +%Y-%m-%d), medians of $runs)"
  echo
  echo "Wall times; ratio = cbuild / peer (below 1: cbuild is faster). \"published\": the peer did not run here, the"
  echo "figure is the one ../shared/bench/README.md publishes for the same kind of machine."
  echo "Buildah: \`bud --layers --isolation $isolation\`."
  echo
  echo "| scenario | cbuild | BuildKit | cbuild / BuildKit | Buildah | cbuild / Buildah | notes |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  row "A cold COPY, 300 MB / 20k files" "$(get A_CBUILD)" "$(bk_spec A A)" "$(bh_spec A A)" s \
    "floor tar\\|sha256\\|igzip -1: $(f2 "$(get A_FLOOR_GZIP)") s (ratio $(ratio "$(get A_CBUILD)" "$(get A_FLOOR_GZIP)")); cbuild peak RSS $(get A_PEAK_MB) MB"
  row "B no-op rebuild" "$(get B_CBUILD)" "$(bk_spec B B)" "$(bh_spec B B)" s ""
  row "C one file changed" "$(get C_CBUILD)" "$(bk_spec C C)" "$(bh_spec C C)" s ""
  row "D1 one RUN, cold" "$(get D1_CBUILD)" "$(bk_spec D1 D1)" "$(bh_spec D1 D1)" s ""
  row "D 30 RUNs, cold" "$(get D_CBUILD)" "$(bk_spec D D)" "$(bh_spec D D)" s ""
  row "marginal cost of a RUN step, (D − D1) / 29" "$(step "$(get D_CBUILD)" "$(get D1_CBUILD)")" \
    "$(derived BUILDKIT "$measured_buildkit" D D1 buildkit.Dstep)" \
    "$(derived BUILDAH "$measured_buildah" D D1 "buildah-$isolation.Dstep")" ms "a bare \`runc run\` of echo: 31 ms (published)"
  row "Dn 30 RUNs, --network none" "$(get DN_CBUILD)" "$(bk_spec DN Dn)" "$(bh_spec DN Dn)" s ""
  row "Dn per step, (Dn − D1) / 29" "$(step "$(get DN_CBUILD)" "$(get D1_CBUILD)")" \
    "$(derived BUILDKIT "$measured_buildkit" DN D1 buildkit.Dnstep)" \
    "$(derived BUILDAH "$measured_buildah" DN D1 "buildah-$isolation.Dnstep")" ms ""
  row "E 3 parallel stages + final (cbuild: default --jobs $(get E_JOBS))" "$(get E_CBUILD)" "$(bk_spec E E)" "$(bh_spec E E)" s \
    "the 3 stages by hand, side by side: $(f2 "$(get E_HAND)") s (ratio $(ratio "$(get E_CBUILD)" "$(get E_HAND)"))"
  row "E with --jobs 3" "$(get E3_CBUILD)" "" "$(bh_spec E3 E3)" s \
    "ratio to by hand $(ratio "$(get E3_CBUILD)" "$(get E_HAND)"); Buildah \`bud --jobs 3\`"
  row "F push A's image to an empty local registry" "$(get F_PUSH_CBUILD)" "$(bk_spec F F)" "$(bh_spec F F)" s \
    "skopeo copy, same run: $(f2 "$(get F_PUSH_SKOPEO)") s (ratio $(ratio "$(get F_PUSH_CBUILD)" "$(get F_PUSH_SKOPEO)"))"
  row "F' pull it back into an empty store" "$(get F_PULL_CBUILD)" "" "" s \
    "skopeo copy, same run: $(f2 "$(get F_PULL_SKOPEO)") s (ratio $(ratio "$(get F_PULL_CBUILD)" "$(get F_PULL_SKOPEO)"))"
  row "RUN writing 1 GB: the layer's cost" "$(get BIG_LAYER_CBUILD)" "" "" s \
    "floor: the file through igzip -1, and sync: $(f2 "$(get BIG_LAYER_FLOOR)") s (ratio $(ratio "$(get BIG_LAYER_CBUILD)" "$(get BIG_LAYER_FLOOR)"))"
} | tee "$work/compare.md"
