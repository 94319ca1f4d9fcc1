"""The Prometheus metrics apiproxy keeps. Pure: served by service.py when [metrics] listen is set.

Counting costs a few hundred nanoseconds, so it happens whether or not
anyone scrapes; the labelled children the hot path uses are made once.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

from apiproxy.api.upstream_info import UpstreamInfo
from apiproxy.api.versions import Version
from apiproxy.ops.access import version_label

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, process_open_fds…

REQUESTS = Counter("apiproxy_requests", "Requests answered, by client API version, endpoint (route template) "
                   "and status code", ["client_version", "endpoint", "code"], registry=REGISTRY)
TRANSLATION_ERRORS = Counter("apiproxy_translation_errors", "Requests or answers apiproxy could not translate "
                             "(an invalid legacy body, an answer it cannot express)", ["endpoint"], registry=REGISTRY)
REFUSED_CONNECTIONS = Counter("apiproxy_refused_connections", "Connections refused before their request was read: "
                              "answered 503 over a listener's max_connections, or closed unanswered while apiproxy "
                              "had no file descriptor left", ["reason"], registry=REGISTRY)
OVER_MAX_CONNECTIONS = REFUSED_CONNECTIONS.labels("max_connections")
OUT_OF_DESCRIPTORS = REFUSED_CONNECTIONS.labels("out_of_descriptors")
HIJACKED_STREAMS = Gauge("apiproxy_hijacked_streams", "Hijacked streams (attach, exec start) spliced now",
                         registry=REGISTRY)


class _Amount:
    """A counter's child added to without a lock: only the reactor's thread adds, a scrape reads a number."""

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class ByteCounter:
    """A labelled counter for what is counted once per chunk of a stream, where a lock per add shows."""

    def __init__(self, name: str, documentation: str, label: str) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.children: dict[str, _Amount] = {}

    def labels(self, value: str) -> _Amount:
        return self.children.setdefault(value, _Amount())

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, child in self.children.items():
            family.add_metric([value], child.value)
        yield family


SPLICED_BYTES = ByteCounter("apiproxy_spliced_bytes", "Bytes of hijacked streams, and of pass-through bodies moved by "
                            "splice(2), by direction", "direction")
REGISTRY.register(SPLICED_BYTES)  # a collector: it has collect()
SPLICED_TO_CLIENT = SPLICED_BYTES.labels("to_client")
SPLICED_TO_DAEMON = SPLICED_BYTES.labels("to_daemon")
# The children of REQUESTS by (client version, endpoint, status), made once each: labels() takes a lock and
# formats the version each time. Bounded: a client that makes up versions past it only costs a lookup more.
_REQUEST_SERIES: dict[tuple[Version | None, str, int], Any] = {}
_REQUEST_SERIES_LIMIT = 10_000


def count_request(version: Version | None, endpoint: str, status: int) -> None:
    key = (version, endpoint, status)
    series = _REQUEST_SERIES.get(key)
    if series is None:
        if len(_REQUEST_SERIES) >= _REQUEST_SERIES_LIMIT:
            _REQUEST_SERIES.clear()
        series = _REQUEST_SERIES[key] = REQUESTS.labels(version_label(version), endpoint, str(status))
    series.inc()


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
