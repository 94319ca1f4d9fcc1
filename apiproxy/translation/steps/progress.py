"""Value steps of progress and build streams: the text 2013 clients read. Pure."""
from __future__ import annotations

from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step


@value_step
def progress_to_text(item: Any, context: Context) -> Any:
    """A JSON progress item as the plain text 0.3 daemons wrote (API 1.0).

    Progress updates end in a carriage return so a terminal redraws the line.
    """
    if not isinstance(item, dict):
        return item
    if item.get("error"):
        return f"Error: {item['error']}\r\n"
    prefix = f"{item['id']}: " if item.get("id") else ""
    if item.get("progress"):
        return f"{prefix}{item.get('status', '')} {item['progress']}\r"
    return f"{prefix}{item.get('status', '')}\r\n"


@value_step
def build_item_to_text(item: Any, context: Context) -> Any:
    """A JSON build item as the plain text builds streamed before API 1.8."""
    if not isinstance(item, dict):
        return item
    if item.get("error"):
        return f"Error: {item['error']}\n"
    if "stream" in item:
        return str(item["stream"])
    if item.get("status"):  # a pull of FROM's image inside the build
        return progress_to_text(item, context)
    return None


@value_step
def without_aux(item: Any, context: Context) -> Any:
    """Items carrying `aux` data (a built image's id, a pushed digest) and nothing to show
    are news to older clients."""
    if isinstance(item, dict) and "aux" in item and not ({"status", "stream", "error"} & set(item)):
        return None
    return item


def _human_size(size: float) -> str:
    """Decimal units with four significant digits, as Docker's progress bars print them."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    index = 0
    while size >= 1000 and index < len(units) - 1:
        size, index = size / 1000, index + 1
    return f"{size:.4g}{units[index]}"


def _progress_bar(detail: dict[str, Any]) -> str:
    current, total = detail.get("current") or 0, detail.get("total") or 0
    if not isinstance(current, (int, float)) or not isinstance(total, (int, float)) or current <= 0:
        return ""
    if total <= 0:
        return f"{_human_size(current):>8}"
    filled = min(50, int(50 * current / total))
    bar = "=" * filled + (">" if filled < 50 else "") + " " * (49 - filled)
    return f"[{bar}] {_human_size(current):>8}/{_human_size(total)}"


@value_step
def progress_strings(item: Any, context: Context) -> Any:
    """The `progress` and `error` strings deprecated in API 1.48 (daemons may leave them empty),
    rebuilt from progressDetail and errorDetail for the clients that print them."""
    if not isinstance(item, dict):
        return item
    detail, error = item.get("progressDetail"), item.get("errorDetail")
    if not item.get("progress") and isinstance(detail, dict) and _progress_bar(detail):
        item["progress"] = _progress_bar(detail)
    if not item.get("error") and isinstance(error, dict) and error.get("message"):
        item["error"] = error["message"]
    return item
