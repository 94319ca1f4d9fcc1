"""The Prometheus metrics apiproxy keeps. Pure: served by service.py when [metrics] listen is set.

Counting costs a few hundred nanoseconds, so it happens whether or not
anyone scrapes; the labelled children the hot path uses are made once.
"""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest

from apiproxy.api.upstream_info import UpstreamInfo
from apiproxy.api.versions import Version

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, process_open_fds…

REQUESTS = Counter("apiproxy_requests", "Requests answered, by client API version, endpoint (route template) "
                   "and status code", ["client_version", "endpoint", "code"], registry=REGISTRY)
TRANSLATION_ERRORS = Counter("apiproxy_translation_errors", "Requests or answers apiproxy could not translate "
                             "(an invalid legacy body, an answer it cannot express)", ["endpoint"], registry=REGISTRY)
HIJACKED_STREAMS = Gauge("apiproxy_hijacked_streams", "Hijacked streams (attach, exec start) spliced now",
                         registry=REGISTRY)
SPLICED_BYTES = Counter("apiproxy_spliced_bytes", "Bytes of hijacked streams, and of pass-through bodies "
                        "moved by splice(2), by direction", ["direction"], registry=REGISTRY)
SPLICED_TO_CLIENT = SPLICED_BYTES.labels("to_client")
SPLICED_TO_DAEMON = SPLICED_BYTES.labels("to_daemon")
UPSTREAM_RECONNECTS = Counter("apiproxy_upstream_reconnects", "Times the upstream was reached again after it "
                              "was lost (its version is then read anew)", registry=REGISTRY)
UPSTREAM_INFO = Gauge("apiproxy_upstream_info", "The upstream as its /version last described it, and the "
                      "version legacy requests go at (value 1)",
                      ["kind", "api_version", "min_api_version", "target"], registry=REGISTRY)


def upstream_known(info: UpstreamInfo, target: Version | None) -> None:
    """One series for the daemon apiproxy now stands in front of."""
    UPSTREAM_INFO.clear()
    UPSTREAM_INFO.labels(info.kind, str(info.api_version or ""), str(info.min_api_version or ""),
                         str(target or "")).set(1)


CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    return generate_latest(REGISTRY)
