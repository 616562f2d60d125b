"""What every dataset source provides: discovery of its inputs and loading of one input,
and the checks every source applies to the files and names it reads."""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from featurizers.names import escape_invalid_text, is_valid_text
from featurizers.shapes import UNLABELED, ShapeRecord
from pipelines.sources import files


class SourceError(ValueError):
    """An input that cannot be read as a shape; the message names the input and the reason.

    The message is always valid text: names that are not (a non-UTF-8 file name) are
    escaped in it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(escape_invalid_text(message))


@dataclass(frozen=True, order=True)
class SourceInput:
    """One input of a source: the unit the manifest has a row for.

    Attributes:
        shape_id: ``{source}/{native id}``, known before the input is read; always valid
            text (invalid bytes of a file name are escaped, see ``Source.shape_id``).
        uri: the file or folder to read, as the file system names it (a non-UTF-8 local
            name keeps Python's surrogate escapes, so it still opens).
        category: category given by a side table (generic source), "" otherwise.
    """

    shape_id: str
    uri: str
    category: str = ""


class Source(abc.ABC):
    """A dataset reader. Subclasses are small and stateless, so Beam can pickle them."""

    #: The ``--source`` name; also the first component of every shape id.
    name: str

    @abc.abstractmethod
    def discover(self, location: str) -> list[SourceInput]:
        """All inputs under a folder, glob or list file (or one input's own path), sorted by
        shape id. Every candidate is listed, also one that will fail to read.

        Raises:
            FileNotFoundError: the location matches nothing.
            SourceError: a side table of the location (``metadata.csv``) is malformed.
        """

    @abc.abstractmethod
    def load(self, source_input: SourceInput) -> ShapeRecord:
        """Read one input. Raises on unreadable or inconsistent data."""

    @abc.abstractmethod
    def input_files(
        self, source_input: SourceInput, digests: files.FileDigests | None = None
    ) -> list[str]:
        """Every file an input is made of, in the fixed order each source documents: what
        its content hash (``pipelines.sources.fingerprint.input_sha256``) covers. Found
        without decoding geometry, and never raising for a bad input: a file that is
        missing is still listed (side files named by an unreadable one are not).

        Args:
            source_input: the input.
            digests: receives the digests of the files read to find the others, so that
                hashing does not read them again.

        Returns:
            Paths, all below ``input_folder(source_input)``.
        """

    def input_folder(self, source_input: SourceInput) -> str:
        """The folder ``input_files`` are named relative to: the input's own folder."""
        return source_input.uri

    def shape_id(self, native_id: str) -> str:
        """``{source}/{native id}``, invalid text in the native id escaped."""
        return f"{self.name}/{escape_invalid_text(native_id)}"


def check_file(path: str, referenced_by: str = "") -> None:
    """Raise SourceError when ``path`` is a folder, a dangling symlink or missing.

    Args:
        path: the file.
        referenced_by: what names the file (``"/d/101/result.json: leaf 'chair/leg'"``),
            said first in the message when given.
    """
    problem = files.not_a_file(path)
    if problem and referenced_by:
        raise SourceError(f"{referenced_by} references {path}, which {problem}")
    if problem:
        raise SourceError(f"{path} {problem}")


def read_file(path: str) -> bytes:
    """All bytes of one file an input is made of.

    Raises:
        SourceError: the path is a folder, a dangling symlink, missing or unreadable; the
            message names it.
    """
    check_file(path)
    try:
        return files.read_bytes(path)
    except OSError as exc:
        raise SourceError(f"{path}: unreadable ({exc.strerror or exc})") from exc


def read_json(path: str) -> Any:
    """The parsed JSON of one file; SourceError naming the file when it is not JSON."""
    data = read_file(path)
    if not data.strip():
        raise SourceError(f"{path} is empty")
    try:
        return json.loads(data)
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8/16/32 text
        raise SourceError(f"{path}: malformed JSON ({exc})") from exc
    except RecursionError as exc:
        raise SourceError(f"{path}: JSON nested too deeply to read") from exc


def valid_text(text: str, what: str, warnings: list[str]) -> str:
    """``text`` with its invalid code points escaped (``escape_invalid_text``).

    When there were any, a one-line warning naming ``what`` (e.g. ``"part name in
    /d/101/result.json"``) is appended to ``warnings``.
    """
    if is_valid_text(text):
        return text
    escaped = escape_invalid_text(text)
    warnings.append(escape_invalid_text(f"{what} is not valid UTF-8, kept escaped: {escaped}"))
    return escaped


def path_warnings(source_input: SourceInput) -> list[str]:
    """A warning when the input's path is not valid UTF-8 (its shape id holds it escaped)."""
    warnings: list[str] = []
    valid_text(source_input.uri, "path", warnings)
    return warnings


def number_parts(names: Sequence[str | None]) -> tuple[tuple[str, ...], list[int]]:
    """Number the parts a shape's pieces (or labels) name.

    Args:
        names: the part name of each piece, None for a piece that names no part.

    Returns:
        The part names in order of first occurrence, and each piece's part index
        (``UNLABELED`` for None): pieces of one name (instances) share one index.
    """
    part_names = tuple(dict.fromkeys(name for name in names if name is not None))
    index = {name: k for k, name in enumerate(part_names)}
    return part_names, [UNLABELED if name is None else index[name] for name in names]
