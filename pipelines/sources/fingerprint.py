"""The content hash of an input's files, known before the input is loaded.

A shape whose input hash (with its run's config hash) is already committed need not be
loaded, rendered or featurized again. The hash is taken from the bytes of the files an
input is made of (``Source.input_files``), found without decoding geometry; a changed
byte of any of them, a file that appears or goes, or a changed side-table category
changes it. Files are read once each, ``files.BLOCK_BYTES`` at a time.

The hash covers, each field as an 8-byte big-endian length and its bytes (text as
UTF-8, lone surrogates passed through, so that different texts never give equal bytes):

1. the format tag ``partbank-input-v1``;
2. the shape id and the input's ``category`` (side-table category, "" if none);
3. for every input file in ``input_files`` order: its path relative to
   ``input_folder`` and its content tag, ``sha256:<hex of its bytes>``, or
   ``missing`` / ``unreadable`` for a file that cannot be read (``files.FileDigests``).
"""

from __future__ import annotations

import hashlib

from pipelines.sources import SOURCES, files
from pipelines.sources.base import SourceInput

#: Changes whenever what the hash covers changes, so old hashes never match new ones.
FORMAT_TAG = "partbank-input-v1"


def input_sha256(source_input: SourceInput) -> str:
    """64 hex digits of SHA-256 over an input's id, category and files (module docstring).

    Never raises for a bad input: a missing, unreadable or malformed file still gives a
    hash (and the input then fails to load with its source's one-line error).

    Args:
        source_input: an input as its source discovered it; its shape id's first
            component names the source.
    """
    source = SOURCES[source_input.shape_id.split("/", 1)[0]]()
    digests = files.FileDigests()
    paths = source.input_files(source_input, digests)
    folder = source.input_folder(source_input)
    digest = hashlib.sha256()
    for field in (FORMAT_TAG, source_input.shape_id, source_input.category):
        _update(digest, field)
    for path in paths:
        _update(digest, files.relative_to(path, folder))
        _update(digest, digests.digest(path))
    return digest.hexdigest()


def _update(digest: hashlib._Hash, text: str) -> None:
    """Add one length-prefixed text field, so no two field lists hash alike."""
    data = text.encode("utf-8", errors="surrogatepass")  # one-to-one, whatever the text
    digest.update(len(data).to_bytes(8, "big"))
    digest.update(data)
