"""Deterministic train/val/test splits, stored with the features table so every reader agrees.

A split rule assigns each shape id to a split by itself, without a random value or a
listing order: first the holdout lists (a shape named in ``holdout["test"]`` is in
``test``), then a hash of the shape id placed on the cumulative ``ratios`` (SHA-256 of
``salt`` + shape id, its first 8 bytes as a fraction of 2**64). The same id lands in the
same split on every machine, in every version, and a shape added later does not move any
other shape.

``write_splits`` stores a rule as ``OUT/features/_splits/<name>.parquet`` (atomically):
one row per shape of the version it was written for (``shape_id``, ``split``), the rule
in the schema metadata (``partbank.splits``: ratios, salt, holdout ids, version). Readers
load it with ``Splits.load``; a shape the file does not list (a later version's) gets the
stored rule's answer. The table's ``_log/`` is never touched.

>>> write_splits("out/features", ratios={"train": 0.8, "val": 0.1, "test": 0.1})
>>> Splits.load("out/features").split_of("partnet/1001")      # 'train'

Command line::

    python -m schemas.splits OUT/features [--name default] [--ratios train=0.8,val=0.1,test=0.1]
        [--holdout test=FILE]... [--salt TEXT] [--version N]

A holdout file (such as Find3D's ``holdout_*.txt``) lists one id per line; a line names
a shape whose id equals it or ends with ``/`` + the line (``chair_0003`` names
``find3d/seenclass/chair_0003``). Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.common import write_atomically
from schemas.locations import Location, LocationLike
from schemas.table import FeatureTable

#: The folder of stored splits inside a features folder.
SPLITS_FOLDER = "_splits"
#: Schema metadata key of a splits file: the rule (JSON).
META_SPLITS = b"partbank.splits"
DEFAULT_RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}
SPLITS_SCHEMA = pa.schema([("shape_id", pa.string()), ("split", pa.string())])


def hash_fraction(shape_id: str, salt: str = "") -> float:
    """A shape id's place in [0, 1): the first 8 bytes of SHA-256(salt + id) / 2**64."""
    digest = hashlib.sha256(f"{salt}{shape_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class SplitRule:
    """Holdout lists first, then the hash of the shape id on the cumulative ratios.

    Attributes:
        ratios: split name -> share, in order; shares are normalized to sum to 1.
        salt: text prepended to the id before hashing (another salt, another assignment).
        holdout: split name -> ids (whole shape ids or their last path components).
    """

    ratios: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATIOS))
    salt: str = ""
    holdout: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.ratios or any(share < 0 for share in self.ratios.values()):
            raise ValueError(f"split ratios must be non-negative shares: {dict(self.ratios)}")
        if sum(self.ratios.values()) <= 0:
            raise ValueError(f"split ratios sum to 0: {dict(self.ratios)}")
        held: dict[str, str] = {}
        for split, ids in sorted(self.holdout.items()):
            for held_id in ids:
                if held.setdefault(held_id, split) != split:
                    raise ValueError(
                        f"holdout id {held_id!r} is in two splits: {held[held_id]}, {split}"
                    )
        object.__setattr__(self, "_held", held)

    def split_of(self, shape_id: str) -> str:
        """The split of one shape id."""
        held: dict[str, str] = self._held  # type: ignore[attr-defined]
        for key in (shape_id, shape_id.rsplit("/", 1)[-1]):
            if key in held:
                return held[key]
        total = sum(self.ratios.values())
        point, cumulative = hash_fraction(shape_id, self.salt) * total, 0.0
        names = [name for name, share in self.ratios.items() if share > 0]
        for name in names:
            cumulative += self.ratios[name]
            if point < cumulative:
                return name
        return names[-1]  # rounding at the top end

    def to_json(self) -> dict:
        return {
            "ratios": dict(self.ratios),
            "salt": self.salt,
            "holdout": {split: sorted(ids) for split, ids in sorted(self.holdout.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping) -> SplitRule:
        return cls(data["ratios"], data.get("salt", ""), data.get("holdout", {}))


def read_holdout(location: LocationLike) -> list[str]:
    """The ids of a holdout file, one per line (blank and ``#`` lines skipped)."""
    lines = (line.strip() for line in Location.of(location).read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def splits_file(features: LocationLike, name: str = "default") -> Location:
    """``features/_splits/<name>.parquet``."""
    return Location.of(features) / SPLITS_FOLDER / f"{name}.parquet"


def committed_shape_ids(features: LocationLike, version: int | None = None) -> list[str]:
    """The shape ids a committed version holds, sorted (its shards' ``shape_id`` column)."""
    table = FeatureTable(features)
    ids: list[str] = []
    for file in table.shard_files(version):
        ids.extend(
            pq.read_table(file.path, columns=["shape_id"], filesystem=file.filesystem)
            .column("shape_id")
            .to_pylist()
        )
    return sorted(ids)


def write_splits(
    features: LocationLike,
    rule: SplitRule | None = None,
    name: str = "default",
    version: int | None = None,
) -> Location:
    """Store ``rule``'s assignment of a committed version's shapes (latest by default) as
    ``features/_splits/<name>.parquet`` and return that file. Rewriting a name replaces it."""
    rule = rule or SplitRule()
    resolved = FeatureTable(features).resolve_version(version)
    ids = committed_shape_ids(features, resolved)
    metadata = {**rule.to_json(), "version": resolved}
    table = pa.table(
        {"shape_id": ids, "split": [rule.split_of(shape_id) for shape_id in ids]},
        schema=SPLITS_SCHEMA.with_metadata({META_SPLITS: json.dumps(metadata, sort_keys=True)}),
    )
    target = splits_file(features, name)
    write_atomically(target, lambda stream: pq.write_table(table, stream))
    return target


class Splits:
    """A stored split: the listed shapes' splits, and the rule for the shapes it does not list.

    Attributes:
        rule: the ``SplitRule`` it was written with. version: the version it listed.
        assigned: shape id -> split, as stored.
    """

    def __init__(self, rule: SplitRule, assigned: Mapping[str, str], version: int | None):
        self.rule, self.assigned, self.version = rule, dict(assigned), version

    @classmethod
    def load(cls, features: LocationLike, name: str = "default") -> Splits:
        """Read ``features/_splits/<name>.parquet``; ``FileNotFoundError`` (one line) if absent."""
        file = splits_file(features, name)
        if not file.is_file():
            raise FileNotFoundError(
                f"{file}: no stored split {name!r}; write it with "
                f"`python -m schemas.splits {features} --name {name}`"
            )
        table = pq.read_table(file.path, filesystem=file.filesystem)
        metadata = json.loads(table.schema.metadata[META_SPLITS])
        assigned = dict(zip(table["shape_id"].to_pylist(), table["split"].to_pylist(), strict=True))
        return cls(SplitRule.from_json(metadata), assigned, metadata.get("version"))

    def split_of(self, shape_id: str) -> str:
        return self.assigned.get(shape_id) or self.rule.split_of(shape_id)

    def names(self) -> list[str]:
        """The split names the rule can give, in its order."""
        held = [split for split in self.rule.holdout if split not in self.rule.ratios]
        return [*self.rule.ratios, *held]


def _ratios(text: str) -> dict[str, float]:
    try:
        pairs = [item.split("=", 1) for item in text.split(",") if item]
        return {name.strip(): float(share) for name, share in pairs}
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected NAME=SHARE,...: {text!r}") from error


def _holdout(text: str) -> tuple[str, str]:
    split, sep, path = text.partition("=")
    if not sep or not split or not path:
        raise argparse.ArgumentTypeError(f"expected SPLIT=FILE: {text!r}")
    return split, path


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m schemas.splits", description="Store a deterministic split of a table."
    )
    parser.add_argument("features", help="the features folder (OUT/features), local or a URI")
    parser.add_argument("--name", default="default")
    parser.add_argument("--ratios", type=_ratios, default=dict(DEFAULT_RATIOS))
    parser.add_argument("--holdout", type=_holdout, action="append", default=[])
    parser.add_argument("--salt", default="")
    parser.add_argument("--version", type=int, default=None)
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        holdout: dict[str, list[str]] = {}
        for split, path in args.holdout:
            holdout.setdefault(split, []).extend(read_holdout(path))
        rule = SplitRule(args.ratios, args.salt, holdout)
        target = write_splits(args.features, rule, args.name, args.version)
    except (OSError, ValueError) as error:
        print(f"schemas.splits: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    stored = Splits.load(args.features, args.name)
    counts = {split: 0 for split in stored.names()}
    for split in stored.assigned.values():
        counts[split] = counts.get(split, 0) + 1
    listed = ", ".join(f"{split} {count}" for split, count in counts.items())
    print(f"{target}: version {stored.version}: {listed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
