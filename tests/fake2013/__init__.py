"""A 2013 Docker daemon (API v1.0-v1.9) played from its documentation's examples."""
from .daemon import FakeDaemon, Received, RecordingServer, read_request
from .docs import DocExample, Docs, load

__all__ = ["DocExample", "Docs", "FakeDaemon", "Received", "RecordingServer", "load", "read_request"]
