"""A listing of web assets for the curate pipeline: one row per asset, read from the bytes
of a CSV, JSONL or Objaverse/Sketchfab-style metadata JSON file.

Columns (CSV header names, or JSONL keys):

* ``path`` (required): the model file (``.glb``, ``.gltf``, ``.obj``, ``.ply``, ``.stl``),
  relative to the listing's folder, absolute, or a URI (``gs://...``);
* ``id``: the asset's id (default: ``path``);
* ``thumbnail``: an image of the asset (PNG/JPEG/WebP), located like ``path``;
* ``category``: a category the lister already knows (passed on to ``selected.csv``);
* ``name``, ``description``, ``license``: text;
* ``tags``, ``categories``: in CSV ``;``-separated; in JSONL lists of strings or of
  ``{"name": ...}`` objects (Sketchfab's form).

A ``.json`` file is an Objaverse annotations dict (``{uid: record}``), a list of records
or Sketchfab's API page (``{"results": [record, ...]}``); a record has ``uid``,
``name``, ``description``, ``tags``/``categories`` (``[{"name": ...}]``), ``license``
(a string such as ``by-sa``, or ``{"label": ..., "slug": ...}``) and optionally ``path``
(else ``<uid>.glb`` beside the JSON) and ``thumbnail`` (else the widest of
``thumbnails.images[].url``). Rows keep the file's order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Listing formats by file extension.
FORMATS = (".csv", ".jsonl", ".json")


class ListingError(ValueError):
    """A listing that cannot be read; the message is one line naming the file."""


@dataclass(frozen=True)
class ListingRow:
    """One asset of a listing.

    Attributes:
        row: 0-based position in the listing.
        id: the asset's id.
        path: the model file's location (absolute path or URI).
        thumbnail: the thumbnail's location, "" when there is none.
        category: the lister's category, "" when none.
        name, description, license: metadata text ("" when absent).
        tags, categories: metadata words in the listing's order.
    """

    row: int
    id: str
    path: str
    thumbnail: str = ""
    category: str = ""
    name: str = ""
    description: str = ""
    license: str = ""
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def metadata(self) -> dict[str, Any]:
        """The metadata a judge reads (no locations: a moved file is the same asset)."""
        return {
            "name": self.name,
            "categories": list(self.categories),
            "tags": list(self.tags),
            "license": self.license,
            "description": self.description,
        }

    def metadata_sha256(self) -> str:
        """SHA-256 of the metadata as canonical JSON (sorted keys, UTF-8)."""
        text = json.dumps(self.metadata(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def read_listing(data: bytes, location: str) -> list[ListingRow]:
    """The rows of the listing file at ``location`` (its bytes are ``data``).

    Raises:
        ListingError: unknown extension, undecodable text, malformed rows, no ``path``.
    """
    extension = posixpath.splitext(location)[1].lower()
    if extension not in FORMATS:
        raise ListingError(f"{location}: a listing is a {', '.join(FORMATS)} file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ListingError(f"{location}: not UTF-8 text ({error.reason})") from error
    folder = posixpath.dirname(location)
    if extension == ".csv":
        records = _csv_records(text, location)
    elif extension == ".jsonl":
        records = _jsonl_records(text, location)
    else:
        records = _metadata_records(text, location)
    return [_row(number, record, folder, location) for number, record in enumerate(records)]


def _csv_records(text: str, location: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if "path" not in (reader.fieldnames or []):
        raise ListingError(f"{location}: a CSV listing needs a 'path' column")
    records = []
    for record in reader:
        if None in record:
            raise ListingError(f"{location}: line {reader.line_num} has more fields than columns")
        for key in ("tags", "categories"):
            words = record.get(key) or ""
            record[key] = [word.strip() for word in words.split(";") if word.strip()]
        records.append(record)
    return records


def _jsonl_records(text: str, location: str) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise ListingError(f"{location}: line {number} is not JSON ({error})") from error
        if not isinstance(record, dict):
            raise ListingError(f"{location}: line {number} is not a JSON object")
        records.append(record)
    return records


def _metadata_records(text: str, location: str) -> list[dict[str, Any]]:
    """Objaverse/Sketchfab records as listing records (``path`` and ``thumbnail`` filled)."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ListingError(f"{location}: not JSON ({error})") from error
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        document = document["results"]
    if isinstance(document, dict):
        pairs = [(uid, record) for uid, record in document.items()]
    elif isinstance(document, list):
        pairs = [(None, record) for record in document]
    else:
        raise ListingError(f"{location}: expected a JSON object or list of asset records")
    records = []
    for uid, record in pairs:
        if not isinstance(record, dict):
            raise ListingError(f"{location}: asset {uid or len(records)} is not a JSON object")
        uid = str(record.get("uid") or uid or "")
        if not uid and not record.get("path"):
            raise ListingError(f"{location}: record {len(records)} has neither 'uid' nor 'path'")
        records.append(
            {
                **record,
                "id": record.get("id") or uid,
                "path": record.get("path") or f"{uid}.glb",
                "thumbnail": record.get("thumbnail") or _widest_thumbnail(record),
            }
        )
    return records


def _widest_thumbnail(record: dict[str, Any]) -> str:
    images = (record.get("thumbnails") or {}).get("images") or []
    urls = [(image.get("width") or 0, image.get("url") or "") for image in images]
    urls = [(width, url) for width, url in urls if url]
    return max(urls, key=lambda pair: pair[0])[1] if urls else ""


def _row(number: int, record: dict[str, Any], folder: str, location: str) -> ListingRow:
    path = _text(record.get("path"))
    if not path:
        raise ListingError(f"{location}: row {number + 1} has no path")
    thumbnail = _text(record.get("thumbnail"))
    return ListingRow(
        row=number,
        id=_text(record.get("id")) or path,
        path=_locate(path, folder),
        thumbnail=_locate(thumbnail, folder) if thumbnail else "",
        category=_text(record.get("category")),
        name=_text(record.get("name")),
        description=" ".join(_text(record.get("description")).split()),
        license=_license_text(record.get("license")),
        tags=_words(record.get("tags")),
        categories=_words(record.get("categories")),
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _words(value: Any) -> tuple[str, ...]:
    """Tags or categories: strings, or Sketchfab's ``{"name": ...}`` objects."""
    if value is None:
        return ()
    items: Iterable[Any] = [value] if isinstance(value, str) else value
    words = [_text(item.get("name") if isinstance(item, dict) else item) for item in items]
    return tuple(word for word in words if word)


def _license_text(value: Any) -> str:
    if isinstance(value, dict):
        return _text(value.get("slug") or value.get("label"))
    return _text(value)


def _locate(path: str, folder: str) -> str:
    """``path`` as given when absolute or a URI, else joined to the listing's folder."""
    if path.startswith("/") or "://" in path:
        return path
    return posixpath.join(folder, path) if folder else path
