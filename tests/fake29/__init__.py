"""A Docker 29 daemon (API 1.44-1.52) played from recorded answers shaped after the 1.52+ documentation."""
from .daemon import FakeDocker29

__all__ = ["FakeDocker29"]
