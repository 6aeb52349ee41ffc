# syntax=docker/dockerfile:1
# cbuild building itself: `cbuild -t cbuild:latest .` in the checkout (or `docker build`).
# The build stage compiles a stripped Release binary on Debian 12 with the build part of
# scripts/install-deps (keep the two lists in step); the final stage is debian:12-slim with
# only the libraries the binary links, CA certificates for registries, and uidmap for rootless
# builds. docs/kubernetes.md runs it in a pod.
#
# It runs as root by default: RUN steps need root, or a user namespace to be root in (a pod with
# `hostUsers: false`). For a rootless cbuild, run it as the `cbuild` user (uid and gid 1000,
# with a subordinate id range for newuidmap/newgidmap): `--user 1000:1000`, `runAsUser: 1000`
# in Kubernetes, or `--build-arg CBUILD_USER=cbuild` to make it the image's default.

ARG DEBIAN=debian:12

FROM ${DEBIAN} AS build
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libarchive-dev libssl-dev libzstd-dev libcurl4-openssl-dev nlohmann-json3-dev \
      libboost-program-options-dev libyaml-cpp-dev libisal-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCBUILD_TESTS=OFF \
 && cmake --build /build --target cbuild \
 && strip /build/cbuild \
 && /build/cbuild --help >/dev/null

FROM ${DEBIAN}-slim
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates uidmap \
      libarchive13 libssl3 libzstd1 libcurl4 libboost-program-options1.74.0 libyaml-cpp0.7 \
      libisal2 zlib1g \
 && rm -rf /var/lib/apt/lists/*
# The rootless user: its store defaults to ~/.local/share/cbuild, its logins to ~/.docker.
# Its subordinate ids stay below 65536 so that they exist in a Kubernetes pod's user namespace
# (`hostUsers: false` maps 65536 ids), leaving out only its own uid.
RUN groupadd --gid 1000 cbuild \
 && useradd --uid 1000 --gid 1000 --create-home --shell /usr/sbin/nologin cbuild \
 && echo "cbuild:1001:64535" > /etc/subuid \
 && echo "cbuild:1001:64535" > /etc/subgid
COPY --from=build /build/cbuild /usr/local/bin/cbuild
ARG CBUILD_USER=root
USER ${CBUILD_USER}
# A workspace the pod mounts the build context on, as kaniko's /workspace.
WORKDIR /workspace
ENTRYPOINT ["cbuild"]
CMD ["--help"]
