#!/bin/sh
# Runs `podman system service` inside the private namespaces tests/run made
# for it (unshare --net --mount --pid, tini as the namespace's PID 1).
# Usage: podman-in-netns.sh STATE_DIR API_SOCKET [REGISTRY_RELAY_SOCKET REGISTRY_PORT]
#
# Why each step:
# - lo: a new network namespace starts with lo down; netavark and anything
#   that talks to 127.0.0.1 inside needs it up.
# - tmpfs on /run: rootful podman 4.3 keeps state at fixed host paths that no
#   config moves (netavark's IPAM db in /run/containers/networks, container
#   netns bind mounts in /run/netns, defaults under /run/libpod). On a private
#   tmpfs they can neither meet a system podman's nor outlive this run.
# - tmpfs on /dev/shm: its SHM lock segment is always /dev/shm/libpod_lock.
# - STATE_DIR over /var/lib/containers and /var/cache/containers: pushes and
#   pulls keep a blob-info cache in the first, short-name resolution an alias
#   cache (and its lock) in the second, whatever the config says. tests/run
#   makes sure both mountpoints exist (and removes them again if it made them).
# - the relay: this namespace's 127.0.0.1 is not the host's, so the run's
#   registry (on the host's 127.0.0.1:PORT) is reached through a unix socket
#   that tests/run serves on the host side. Same address inside and out, so
#   image references name the registry the same way for every upstream.
set -eu
state=$1
sock=$2
relay=${3:-}
port=${4:-5000}

ip link set lo up
mount -t tmpfs -o mode=0755,nosuid,nodev apiproxy-run /run
mount -t tmpfs -o mode=1777,nosuid,nodev apiproxy-shm /dev/shm
for dir in /var/lib/containers /var/cache/containers; do
    mkdir -p "$state$dir"
    mount --bind "$state$dir" "$dir"
done
if [ -n "$relay" ]; then
    # Lives in this PID namespace, so it dies with it; no need to track it.
    socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$relay" </dev/null &
fi
exec podman system service --time=0 "unix://$sock"
