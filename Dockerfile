# apiproxy as a container: `docker build -t apiproxy .` from a checkout.
#
# BASE is any Debian-based image with python3 (3.11 or later) and its venv module on PATH: the
# official slim Python image by default (python3 is /usr/local/bin's there), or e.g. Debian's own
# with python3 and python3-venv (/usr/bin's). Both stages use it, so the virtualenv built in the
# first runs unchanged in the second.
#
# Offline: put a wheelhouse in the context first, made with the Python of BASE's version,
#   pip wheel -w wheelhouse . setuptools wheel
# (apiproxy, its dependencies, and what builds apiproxy's wheel); then nothing is fetched.
# Without one, pip fetches from the package index.
#
# Written for the classic builder as for BuildKit (no RUN --mount): what the build stage fetches
# or compiles stays there; the runtime stage receives the finished virtualenv alone.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
COPY . /src
RUN set -eu; cd /src; \
    if ls wheelhouse/*.whl >/dev/null 2>&1; then index="--no-index --find-links /src/wheelhouse"; else index=""; fi; \
    pip="--no-cache-dir --disable-pip-version-check --no-input $index"; \
    python3 -m venv /tmp/builder; \
    /tmp/builder/bin/pip wheel $pip --no-deps -w /tmp/dist .; \
    python3 -m venv /opt/apiproxy; \
    /opt/apiproxy/bin/pip install $pip /tmp/dist/apiproxy-*.whl; \
    # The image runs apiproxy; it installs nothing more.
    /opt/apiproxy/bin/pip uninstall -q -y pip setuptools; \
    /opt/apiproxy/bin/apiproxy versions >/dev/null

FROM ${BASE}
# The OCI labels: the version is apiproxy.__version__ (a test keeps them equal). Written out, not
# build arguments: under the classic builder each instruction costs a copy of the image's tree.
LABEL org.opencontainers.image.title="apiproxy" \
      org.opencontainers.image.description="Every Docker client of any age, on any living daemon: a socket in front of the daemon that translates API versions 1.0-1.51" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.source="https://apiproxy.invalid/apiproxy" \
      org.opencontainers.image.licenses="Apache-2.0"
# Not root: the daemon's socket is reached through its group (group_add with the docker group's id),
# or, where it is root's alone, by running the container as user "0". /run/apiproxy is where a unix
# listener goes; a named volume mounted there starts out as this directory, owned by apiproxy.
# --no-log-init: no sparse lastlog entry for a high uid in the layer.
RUN groupadd --gid 10001 apiproxy && \
    useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin apiproxy && \
    install -d -o 10001 -g 10001 -m 0755 /run/apiproxy
COPY --from=build /opt/apiproxy /opt/apiproxy
ENV PATH=/opt/apiproxy/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
# SIGTERM: apiproxy refuses new connections at once and gives running streams grace_period seconds
# (10 by default); `docker stop -t`, or compose's stop_grace_period, must be longer.
STOPSIGNAL SIGTERM
# GET /_ping to the first listener of the configuration the environment (APIPROXY_*) gives: healthy
# on any HTTP answer, apiproxy's 502 while the daemon is down included. Configured by a file or
# flags instead, the healthcheck needs the same: `apiproxy health --config FILE`.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 CMD ["apiproxy", "health"]
ENTRYPOINT ["apiproxy"]
