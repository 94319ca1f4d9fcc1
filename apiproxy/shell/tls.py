"""TLS for tcp listeners and for a remote daemon, from the config's PEM files, as dockerd's --tlsverify does."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from twisted.internet import ssl
from twisted.internet.endpoints import wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.protocols.tls import TLSMemoryBIOFactory

from apiproxy.ops.config import TLSFiles
from apiproxy.ops.listen_specs import split_description

_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class TLSError(Exception):
    pass


def _certificates(path: str) -> list[ssl.Certificate]:
    """Every certificate of a CA's PEM file: a bundle may hold several."""
    try:
        found = _PEM_CERTIFICATE.findall(Path(path).read_bytes())
        certificates = [ssl.Certificate.loadPEM(pem) for pem in found]
    except Exception as error:  # OpenSSL's and cryptography's errors alike: say which file
        raise TLSError(f"cannot load the CA {path}: {error}") from None
    if not certificates:
        raise TLSError(f"cannot load the CA {path}: it holds no PEM certificate")
    return certificates


def _own_certificate(files: TLSFiles) -> ssl.PrivateCertificate:
    assert files.cert is not None and files.key is not None
    try:
        return ssl.PrivateCertificate.loadPEM(Path(files.cert).read_bytes() + b"\n" + Path(files.key).read_bytes())
    except Exception as error:  # OpenSSL's and cryptography's errors alike: say which files
        raise TLSError(f"cannot load the certificate {files.cert} with the key {files.key}: {error}") from None


def server_factory(files: TLSFiles, wrapped: Any) -> TLSMemoryBIOFactory:
    """`wrapped` behind TLS; with a CA, only clients presenting a certificate it signed get through."""
    own = _own_certificate(files)
    authorities = _certificates(files.ca) if files.ca else []
    options = ssl.CertificateOptions(
        privateKey=own.privateKey.original, certificate=own.original,
        verify=bool(authorities), requireCertificate=bool(authorities),
        caCerts=[authority.original for authority in authorities] or None)
    return TLSMemoryBIOFactory(options, False, wrapped)


def client_endpoint(files: TLSFiles, description: str, endpoint: IStreamClientEndpoint) -> IStreamClientEndpoint:
    """The upstream endpoint behind TLS: the daemon's certificate must be signed by the CA and name its host."""
    args, options = split_description(description)
    host = options.get("host") or (args[1] if len(args) > 1 else "")
    if not host:
        raise TLSError(f"a TLS upstream needs a host name in {description!r} to check the daemon's certificate")
    assert files.ca is not None
    trust = ssl.trustRootFromCertificates(_certificates(files.ca))
    mine = _own_certificate(files) if files.cert else None
    return wrapClientTLS(ssl.optionsForClientTLS(host, trustRoot=trust, clientCertificate=mine), endpoint)
