"""Value steps of image bodies: one entry per tag, raw image keys, ids, untagged names. Pure."""
from __future__ import annotations

from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step


@value_step
def images_per_tag(images: Any, context: Context) -> Any:
    """One entry per image with RepoTags → one entry per repository:tag (API ≤ 1.6)."""
    if not isinstance(images, list):
        return images
    rows = []
    for image in images:
        if not isinstance(image, dict):
            continue
        base = {key: value for key, value in image.items() if key not in ("RepoTags", "RepoDigests")}
        tags = [tag for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"]
        if not tags:
            rows.append({**base, "Repository": "<none>", "Tag": "<none>"})
        for tag in tags:
            repository, _, name = tag.rpartition(":")
            if "/" in name:  # a registry port, not a tag: "host:5000/repo"
                repository, name = tag, "latest"
            rows.append({**base, "Repository": repository, "Tag": name})
    return rows


_RAW_IMAGE_KEYS = {
    "Id": "id", "Parent": "parent", "Comment": "comment", "Created": "created",
    "Container": "container", "ContainerConfig": "container_config",
    "DockerVersion": "docker_version", "Author": "author", "Config": "config",
    "Architecture": "architecture", "Os": "os", "Size": "Size",
}


@value_step
def image_to_raw(image: Any, context: Context) -> Any:
    """Image inspect as the image's on-disk JSON, with the snake_case keys of API < 1.12."""
    if not isinstance(image, dict):
        return image
    raw = {raw_key: image[key] for key, raw_key in _RAW_IMAGE_KEYS.items() if key in image}
    for key in ("parent", "container", "comment", "author"):  # omitempty in the image JSON
        if not raw.get(key):
            raw.pop(key, None)
    return raw


@value_step
def strip_sha256(value: Any, context: Context) -> Any:
    """Image ids lost their "sha256:" prefix: old clients print its first 12 characters."""
    if isinstance(value, str) and value.startswith("sha256:"):
        return value[len("sha256:"):]
    return value


@value_step
def untagged_as_id(entries: Any, context: Context) -> Any:
    """[{"Untagged": "repo:tag"}] → [{"Untagged": "<image id>"}], with the id noted before rmi."""
    image_id = context.notes.get("image_id")
    if not isinstance(entries, list) or not image_id:
        return entries
    return [{"Untagged": image_id} if isinstance(e, dict) and "Untagged" in e else e for e in entries]


@value_step
def untagged_as_none(tags: Any, context: Context) -> Any:
    """An untagged image's RepoTags as 1.7-1.42 daemons wrote them."""
    return tags if tags else ["<none>:<none>"]


@value_step
def short_image_id(identifier: Any, context: Context) -> Any:
    """An image id as 0.3-0.6.6 wrote it in history (ImageName(ShortID), which never found a name:
    its map is keyed by full ids) and in rmi's answer: the 12-hex short id. Anything else ("<missing>",
    a name) is kept."""
    if isinstance(identifier, str) and len(identifier) == 64 and all(c in "0123456789abcdef" for c in identifier):
        return identifier[:12]
    return identifier
