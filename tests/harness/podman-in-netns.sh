#!/bin/sh
# Runs `podman system service` inside the private namespaces tests/run made
# for it (unshare --net --mount --pid, tini as the namespace's PID 1).
# Usage: podman-in-netns.sh API_SOCKET [REGISTRY_RELAY_SOCKET]
#
# Why each step:
# - lo: a new network namespace starts with lo down; netavark and anything
#   that talks to 127.0.0.1 inside needs it up.
# - tmpfs on /run: rootful podman 4.3 keeps state at fixed host paths that no
#   config moves (netavark's IPAM db in /run/containers/networks, container
#   netns bind mounts in /run/netns, defaults under /run/libpod). On a private
#   tmpfs they can neither meet a system podman's nor outlive this run.
# - tmpfs on /dev/shm: its SHM lock segment is always /dev/shm/libpod_lock.
# - the relay: this namespace's 127.0.0.1 is not the host's, so the run's
#   registry (on the host's 127.0.0.1:5000) is reached through a unix socket
#   that tests/run serves on the host side. Same address inside and out, so
#   image references name the registry the same way for every upstream.
set -eu
sock=$1
relay=${2:-}

ip link set lo up
mount -t tmpfs -o mode=0755,nosuid,nodev apiproxy-run /run
mount -t tmpfs -o mode=1777,nosuid,nodev apiproxy-shm /dev/shm
if [ -n "$relay" ]; then
    # Lives in this PID namespace, so it dies with it; no need to track it.
    socat TCP-LISTEN:5000,bind=127.0.0.1,fork,reuseaddr "UNIX-CONNECT:$relay" </dev/null &
fi
exec podman system service --time=0 "unix://$sock"
