"""Files and folders named by a local path or a URI, read through ``pyarrow.fs``.

The one place the Beam-free readers (``ShardReader``, ``AliasMap.load``, the vocabulary
readers, the Gemini cache) turn what a user typed into something to open:

>>> Location.of("output/features")               # a local path
>>> Location.of("gs://bucket/output/features")   # any URI pyarrow's filesystems know
>>> Location.of("features", filesystem=fs)       # a path inside any pyarrow FileSystem

URIs pyarrow does not know (``memory://``, other fsspec protocols) are opened through
fsspec when it is installed. With ``STORAGE_EMULATOR_HOST`` set, ``gs://`` goes to that GCS
emulator, as ``google-cloud-storage`` does. ``str(location)`` is the spelling the user
gave, so error messages name the input as it was typed.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from pyarrow import fs as pafs

#: The variable ``google-cloud-storage`` (and so Beam's ``gs://``) reads to talk to a GCS
#: emulator instead of Google (``http://127.0.0.1:9023``); ``gs://`` locations follow it too.
GCS_EMULATOR_VARIABLE = "STORAGE_EMULATOR_HOST"


def _gcs_emulator(address: str) -> pafs.GcsFileSystem:
    """pyarrow's GCS filesystem talking to the emulator at ``address`` (no credentials)."""
    scheme, _, host = address.rpartition("://")
    return pafs.GcsFileSystem(anonymous=True, endpoint_override=host, scheme=scheme or "http")


@dataclass(frozen=True)
class Location:
    """A file or folder: its filesystem, its path there, and how the user spelled it."""

    filesystem: pafs.FileSystem
    path: str
    shown: str

    @classmethod
    def of(cls, location: LocationLike, filesystem: pafs.FileSystem | None = None) -> Location:
        """The location of a local path, a URI, or (with ``filesystem``) a path inside it."""
        if isinstance(location, Location):
            return location
        text = os.fspath(location)
        if filesystem is not None:
            return cls(filesystem, text, text)
        if "://" not in text:
            return cls(pafs.LocalFileSystem(), Path(text).absolute().as_posix(), text)
        emulator = os.environ.get(GCS_EMULATOR_VARIABLE)
        if emulator and text.startswith("gs://"):
            return cls(_gcs_emulator(emulator), text.removeprefix("gs://"), text)
        try:
            found, path = pafs.FileSystem.from_uri(text)
        except pa.ArrowInvalid as error:
            found, path = _fsspec_filesystem(text, error)
        return cls(found, path, text)

    def __str__(self) -> str:
        return self.shown

    def __truediv__(self, name: str) -> Location:
        return Location(
            self.filesystem, f"{self.path.rstrip('/')}/{name}", f"{self.shown.rstrip('/')}/{name}"
        )

    @property
    def uri(self) -> str:
        """The location as a URI other readers open (polars, DuckDB): ``file://`` and the
        absolute path for a local file, the URI it was given as otherwise.

        Raises:
            ValueError: a path inside a filesystem given as an object has no URI.
        """
        if isinstance(self.filesystem, pafs.LocalFileSystem):
            return Path(self.path).absolute().as_uri()
        if "://" not in self.shown:
            raise ValueError(
                f"{self.shown}: a path inside a {self.filesystem.type_name} "
                "filesystem object has no URI"
            )
        return self.shown

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        stem, dot, _ = self.name.rpartition(".")
        return stem if dot and stem else self.name

    @property
    def parent_name(self) -> str:
        """The name of the folder holding this file or folder."""
        return self.path.rstrip("/").rsplit("/", 2)[-2] if "/" in self.path.strip("/") else ""

    def _type(self) -> pafs.FileType:
        return self.filesystem.get_file_info(self.path).type

    def exists(self) -> bool:
        return self._type() != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        return self._type() == pafs.FileType.Directory

    def is_file(self) -> bool:
        return self._type() == pafs.FileType.File

    def read_bytes(self) -> bytes:
        with self.filesystem.open_input_stream(self.path) as stream:
            return stream.read()

    def read_text(self) -> str:
        """The file's text (UTF-8)."""
        return self.read_bytes().decode("utf-8")

    def glob(self, pattern: str, recursive: bool = False) -> list[Location]:
        """Files and folders in this folder (and below, if ``recursive``) whose name matches
        ``pattern`` (``fnmatch``, case-sensitive), sorted by path."""
        selector = pafs.FileSelector(self.path, recursive=recursive)
        root = f"{self.path.rstrip('/')}/"
        return [
            Location(
                self.filesystem, info.path, f"{self.shown.rstrip('/')}/{info.path[len(root) :]}"
            )
            for info in sorted(self.filesystem.get_file_info(selector), key=lambda i: i.path)
            if fnmatch.fnmatchcase(info.base_name, pattern)
        ]


#: What readers accept as a location.
LocationLike = str | os.PathLike | Location


def _fsspec_filesystem(uri: str, error: Exception) -> tuple[pafs.FileSystem, str]:
    """A URI pyarrow does not know, through fsspec; ``ValueError`` if that fails too."""
    try:
        import fsspec
    except ImportError:
        raise ValueError(f"{uri}: unknown filesystem ({error})") from error
    try:
        found, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as fsspec_error:
        raise ValueError(f"{uri}: unknown filesystem ({fsspec_error})") from fsspec_error
    return pafs.PyFileSystem(pafs.FSSpecHandler(found)), path
