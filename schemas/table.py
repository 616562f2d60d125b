"""A features folder as a versioned table whose commits are manifests.

Layout of ``OUT/features/``::

    part-<16 hex>.parquet    shard files: immutable once written, named by their writer
    _log/v000001.parquet     version 1's manifest, which is the commit of version 1
    _log/v000002.parquet     version 2's, written by a later run; ...

A version is exactly the shard files its manifest names in rows whose status is ``ok`` or
``skipped_cached``; a shard file no manifest names is invisible to readers, so a run that
dies half way changes nothing they see. A version's manifest is written in one atomic
write (``write_atomically``: a temporary name, then a rename), only after every shard file
it names exists. Versions are kept: a reader can open any of them, and cleanup
(``unreferenced_files``) spares every file any version names.

One writer per features folder is assumed. A second writer committing at the same time is
detected at best effort: the version file is checked for right before the rename, and
``CommitConflict`` is raised when it appeared since the versions were listed.

Why not Delta Lake: Delta's type system has no half floats and no unsigned integers, and
the shards' ``dino``/``partfield`` (float16) and ``rgb``/``views_seen`` (uint8) columns
are the contract; delta-rs refuses the shard schema.

>>> table = FeatureTable("out/features")          # a local path, a URI, or filesystem=
>>> table.versions()                              # [1, 2]
>>> table.shard_files(1)                          # what version 1 holds, as Locations
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from schemas.common import write_atomically
from schemas.features import MANIFEST_SCHEMA
from schemas.locations import Location, LocationLike

#: The folder of commits inside a features folder.
LOG_FOLDER = "_log"
#: File names of shard files inside a features folder.
SHARD_FILES = "part-*.parquet"
#: Manifest rows whose shard a version holds.
COMMITTED_STATUSES = ("ok", "skipped_cached")
#: Schema metadata key of a manifest: the commit's metadata (JSON).
META_COMMIT = b"partbank.commit"

_VERSION_FILE = re.compile(r"v(\d+)\.parquet")
#: ``write_atomically``'s temporary files: ``.<name>.<uuid4 hex>.tmp``.
_TEMPORARY_FILE = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")


class NoCommittedVersion(FileNotFoundError):
    """A features folder with no committed version, or without the version asked for."""


class CommitConflict(RuntimeError):
    """A commit refused: it names a shard file that is not there, or another writer
    committed the same version meanwhile."""


def version_file_name(version: int) -> str:
    """``v000007.parquet``: the manifest of ``version`` inside ``_log/``."""
    return f"v{version:06d}.parquet"


def _spans(versions: list[int]) -> str:
    """``1..3, 5`` for [1, 2, 3, 5]."""
    spans: list[list[int]] = []
    for version in versions:
        if spans and version == spans[-1][1] + 1:
            spans[-1][1] = version
        else:
            spans.append([version, version])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in spans)


class FeatureTable:
    """The committed versions of a features folder.

    Args:
        location: the features folder: a local path, a URI (``gs://bucket/out/features``,
            ``file:///data/out/features``), or a ``Location``.
        filesystem: a pyarrow filesystem ``location`` is a path in (default: from the URI,
            or the local one).
    """

    def __init__(self, location: LocationLike, filesystem: pafs.FileSystem | None = None):
        self.folder = Location.of(location, filesystem)
        self.log = self.folder / LOG_FOLDER

    def versions(self) -> list[int]:
        """The committed versions, ascending: ``_log/v<digits>.parquet`` files only."""
        if not self.log.is_dir():
            return []
        found = (_VERSION_FILE.fullmatch(file.name) for file in self.log.glob("v*.parquet"))
        return sorted(int(match[1]) for match in found if match)

    def latest_version(self) -> int | None:
        """The last committed version; None before the first commit."""
        versions = self.versions()
        return versions[-1] if versions else None

    def resolve_version(self, version: int | None = None) -> int:
        """``version`` when it is committed, else ``NoCommittedVersion``; None: the latest."""
        if version is None:
            latest = self.latest_version()
            if latest is None:
                raise NoCommittedVersion(
                    f"no committed version in {self.folder}: run the features pipeline into it "
                    "first"
                )
            return latest
        if not self._version_file(version).is_file():
            versions = self.versions()
            listed = _spans(versions) if versions else "none"
            raise NoCommittedVersion(f"{self.folder} has no version {version} (versions: {listed})")
        return version

    def _version_file(self, version: int) -> Location:
        return self.log / version_file_name(version)

    def manifest(self, version: int | None = None) -> pa.Table:
        """A version's manifest (latest by default): ``MANIFEST_SCHEMA``'s columns, one row
        per input of the run that committed it."""
        file = self._version_file(self.resolve_version(version))
        return pq.read_table(file.path, filesystem=file.filesystem)

    def commit_metadata(self, version: int | None = None) -> dict[str, Any]:
        """The metadata a version (latest by default) was committed with."""
        file = self._version_file(self.resolve_version(version))
        metadata = pq.read_schema(file.path, filesystem=file.filesystem).metadata or {}
        return json.loads(metadata.get(META_COMMIT, b"{}"))

    def shard_names(self, version: int | None = None) -> list[str]:
        """The shard files a version (latest by default) holds, by name, sorted."""
        return _committed_shards(self.manifest(version))

    def shard_files(self, version: int | None = None) -> list[Location]:
        """The shard files a version (latest by default) holds, sorted by name."""
        return [self.folder / name for name in self.shard_names(version)]

    def referenced_shards(self) -> set[str]:
        """Names of the shard files any version holds (cleanup keeps them)."""
        return {name for version in self.versions() for name in self.shard_names(version)}

    def unreferenced_files(self) -> list[Location]:
        """Shard files no version holds, and temporary files left by interrupted atomic
        writes (in the folder and in ``_log/``), sorted by path: what cleanup deletes.

        Call it only when no run is writing into the folder: the shard files of a run not
        yet committed are among them.
        """
        if not self.folder.is_dir():
            return []
        referenced = self.referenced_shards()
        shards = [file for file in self.folder.glob(SHARD_FILES) if file.name not in referenced]
        temporary = [
            file
            for folder in (self.folder, self.log)
            if folder.is_dir()
            for file in folder.glob(".*.tmp")
            if _TEMPORARY_FILE.fullmatch(file.name)
        ]
        return sorted(shards + temporary, key=lambda file: file.path)

    def commit(self, manifest: pa.Table, metadata: Mapping[str, Any]) -> int:
        """Commit ``manifest`` as the next version and return that version.

        Args:
            manifest: ``MANIFEST_SCHEMA``'s columns; the rows whose status is ``ok`` or
                ``skipped_cached`` name the shard files the version holds. Written as
                given: whether a run commits at all is the caller's decision.
            metadata: JSON-able facts about the run, stored in the manifest's schema
                metadata under ``partbank.commit`` (``commit_metadata`` reads them back).

        Raises:
            ValueError: the manifest's columns are not ``MANIFEST_SCHEMA``'s.
            CommitConflict: a named shard file is not in the folder, or the version file
                appeared meanwhile (another writer).
        """
        if manifest.schema.names != MANIFEST_SCHEMA.names:
            raise ValueError(
                f"a manifest has the columns {MANIFEST_SCHEMA.names}, not {manifest.schema.names}"
            )
        manifest = manifest.cast(MANIFEST_SCHEMA)
        named = _committed_shards(manifest)
        listed = named and self.folder.is_dir()
        present = {file.name for file in self.folder.glob(SHARD_FILES)} if listed else set()
        missing = [name for name in named if name not in present]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise CommitConflict(
                f"{self.folder}: not committed: the manifest names shard files that are not "
                f"there: {', '.join(missing[:3])}{more}"
            )
        version = (self.latest_version() or 0) + 1
        target = self._version_file(version)
        table = manifest.replace_schema_metadata(
            {**MANIFEST_SCHEMA.metadata, META_COMMIT: json.dumps(dict(metadata), sort_keys=True)}
        )

        def write(stream: Any) -> None:
            pq.write_table(table, stream, compression="zstd")
            if target.exists():  # checked right before the rename
                raise CommitConflict(
                    f"{self.folder}: version {version} was committed by another writer meanwhile"
                )

        write_atomically(target, write)
        return version


def _committed_shards(manifest: pa.Table) -> list[str]:
    """The non-empty ``shard`` names of a manifest's ok and skipped_cached rows, sorted."""
    committed = pc.is_in(manifest.column("status"), value_set=pa.array(COMMITTED_STATUSES))
    names = manifest.filter(committed).column("shard").to_pylist()
    return sorted({name for name in names if name})
