"""`apiproxy health`: one GET /_ping to a listener, over a blocking socket.

A short-lived process that sends one request needs no reactor: the standard library's sockets and
ssl do it, with one deadline for connecting, the TLS handshake and the answer's status line.
"""
from __future__ import annotations

import socket
import ssl
import time

from apiproxy.ops.health import PING, Target, Unhealthy, status_line_complete, verdict


def check(target: Target, timeout: float) -> str:
    """The healthy line for `target`, or Unhealthy with the reason."""
    deadline = time.monotonic() + timeout
    try:
        with _connect(target, timeout) as conn:
            conn.settimeout(max(deadline - time.monotonic(), 0.001))
            conn.sendall(PING)
            received = b""
            while not status_line_complete(received):
                conn.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = conn.recv(4096)
                if not chunk:
                    break
                received += chunk
    except TimeoutError:
        raise Unhealthy(f"{target.description}: no answer within {timeout:g} s") from None
    except ssl.SSLError as error:
        raise Unhealthy(f"{target.description}: TLS failed: {error.reason or error}{_client_certificate_hint(target)}") \
            from None
    except OSError as error:
        raise Unhealthy(f"{target.description}: {error.strerror or error}") from None
    return verdict(received, target)


def _connect(target: Target, timeout: float) -> socket.socket:
    if target.path is not None:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(timeout)
            conn.connect(target.path)
        except BaseException:
            conn.close()
            raise
        return conn
    assert target.host is not None
    conn = socket.create_connection((target.host, target.port), timeout=timeout)
    if target.tls is None:
        return conn
    # apiproxy checks itself: its certificate names the host clients use, not the loopback address
    # the check dials, so it is not verified. A listener that requires client certificates is shown
    # its own certificate.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if target.tls.ca and target.tls.cert and target.tls.key:
        context.load_cert_chain(target.tls.cert, target.tls.key)
    try:
        return context.wrap_socket(conn)
    except BaseException:
        conn.close()
        raise


def _client_certificate_hint(target: Target) -> str:
    if target.tls is not None and target.tls.ca:
        return (" (this listener requires client certificates, and the check shows it the listener's own "
                "tls_cert: that certificate must be signed by its tls_ca and allow clientAuth)")
    return ""
