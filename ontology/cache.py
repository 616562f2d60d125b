"""An on-disk cache of JSON values, one file per key, safe for concurrent writers.

Keys are SHA-256 hex digests; values live at ``ROOT/<key[:2]>/<key>.json`` and are
written to a temporary name first, then renamed. ``ROOT`` is a local folder or any
URI pyarrow's filesystems understand (``gs://bucket/cache``; see ``schemas.locations``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from pyarrow import fs as pafs

from schemas.common import write_atomically
from schemas.locations import Location, LocationLike

log = logging.getLogger(__name__)


def sha256_hex(text: str) -> str:
    """SHA-256 of ``text`` (UTF-8) as 64 hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(*parts: object) -> str:
    """A key for a tuple of JSON-serializable parts."""
    return sha256_hex(json.dumps(parts, ensure_ascii=False, separators=(",", ":")))


class JsonCache:
    """JSON values by key under ``root`` (a local folder, a URI, or a path in ``filesystem``)."""

    def __init__(self, root: LocationLike, filesystem: pafs.FileSystem | None = None) -> None:
        location = Location.of(root, filesystem)
        self._fs, self._root = location.filesystem, location.path.rstrip("/")
        self._fs.create_dir(self._root, recursive=True)

    def _path(self, key: str) -> str:
        return f"{self._root}/{key[:2]}/{key}.json"

    def get(self, key: str) -> Any | None:
        """The value stored under ``key``, or None (a damaged entry counts as missing)."""
        try:
            with self._fs.open_input_stream(self._path(key)) as stream:
                return json.loads(stream.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("ignoring damaged cache entry %s: %s", self._path(key), error)
            return None

    def put(self, key: str, value: Any) -> None:
        data = json.dumps(value, ensure_ascii=False).encode("utf-8")
        write_atomically(Location.of(self._path(key), self._fs), lambda stream: stream.write(data))
