"""Bytes on the wire: HTTP/1.1 framing, request targets, JSON codecs, the websocket. Pure.

The lowest layer: it knows HTTP and JSON, nothing of Docker, and imports nothing of apiproxy's above it.
"""
