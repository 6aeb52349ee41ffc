# Sourced by the scenario scripts: make_busybox_base DIR writes the build context of the base
# image ../shared/bench asks for (Debian's static busybox with every applet linked, PATH set).
make_busybox_base() {
  local base=$1
  [ -d "$base/bin" ] && return 0
  mkdir -p "$base/bin"
  cp /bin/busybox "$base/bin/busybox"
  for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$base/bin/$applet"; done
  printf 'FROM scratch\nCOPY bin/ /bin/\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nCMD ["sh"]\n' > "$base/Dockerfile"
}
