"""apiproxy: Docker Remote API v1.0-v1.9 clients in front of today's daemons."""

__version__ = "0.1.0"
