"""Value steps of registry credentials: remembered logins, X-Registry-Auth and -Config. Pure."""
from __future__ import annotations

import base64
import json
from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.memory import DEFAULT_REGISTRY
from apiproxy.translation.registry import value_step


@value_step
def remember_credentials(body: Any, context: Context) -> Any:
    """POST /auth of a 1.0/1.1 client: the daemon kept the credentials for later pushes."""
    if isinstance(body, dict) and body.get("username"):
        registry = body.get("serveraddress") or DEFAULT_REGISTRY
        context.memory.credentials[registry] = dict(body)
        context.memory.credentials[DEFAULT_REGISTRY] = dict(body)
    return body


@value_step
def remembered_credentials(body: Any, context: Context) -> Any:
    """The credentials a 1.0/1.1 client gave POST /auth, as the AuthConfig body of 1.2-1.4."""
    if body:
        return body
    name = context.params.get("name", "") or context.notes.get("image", "")
    registry = name.split("/", 1)[0] if "/" in name and ("." in name.split("/", 1)[0]
                                                         or ":" in name.split("/", 1)[0]) else None
    found = context.memory.credentials.get(registry or "") if registry else None
    return found or context.memory.credentials.get(DEFAULT_REGISTRY) or None


def encode_registry_header(document: Any) -> str:
    """The value of an X-Registry-Auth or X-Registry-Config header: URL-safe base64 of JSON."""
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


def decode_registry_header(value: str) -> Any:
    """The JSON of an X-Registry-* header (clients may leave out the base64 padding); None if it is not."""
    try:
        return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError:
        return None


def _has_default(context: Context, name: bytes) -> bool:
    return any(given.lower() == name for given, _ in context.default_headers)


@value_step
def anonymous_registry_auth(body: Any, context: Context) -> Any:
    """Today's daemons refuse a push without X-Registry-Auth; 2013 ones pushed anonymously."""
    if not _has_default(context, b"x-registry-auth"):
        context.default_headers.append((b"X-Registry-Auth", encode_registry_header({}).encode()))
    return body


@value_step
def auth_body_as_default_header(body: Any, context: Context) -> Any:
    """A push's AuthConfig body (1.5-1.9 clients could still send one: the daemons read it when
    X-Registry-Auth was absent) → that header, where the client gave none.  No body is sent."""
    if isinstance(body, dict):
        context.default_headers.append((b"X-Registry-Auth", encode_registry_header(body).encode()))
    return None


@value_step
def auth_body_to_header(body: Any, context: Context) -> Any:
    """An AuthConfig body (API 1.2-1.4) becomes the X-Registry-Auth header of 1.5."""
    if isinstance(body, dict) and body:
        context.extra_headers.append((b"X-Registry-Auth", encode_registry_header(body).encode()))
    return None


@value_step
def unwrap_registry_config(headers: Any, context: Context) -> Any:
    """X-Registry-Config of 1.9 clients wraps its map in {"configs": ...}; daemons since
    Docker 1.8 read the map itself.  A 1.8 client's single X-Registry-Auth becomes that map."""
    if not isinstance(headers, dict):
        return headers
    if headers.get("x-registry-config"):
        decoded = decode_registry_header(headers["x-registry-config"])
        if isinstance(decoded, dict) and isinstance(decoded.get("configs"), dict):
            headers["x-registry-config"] = encode_registry_header(decoded["configs"])
    elif headers.get("x-registry-auth"):
        auth = decode_registry_header(headers["x-registry-auth"])
        if isinstance(auth, dict):
            registry = auth.get("serveraddress") or DEFAULT_REGISTRY
            headers["x-registry-config"] = encode_registry_header({registry: auth})
    return headers
