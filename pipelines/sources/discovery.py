"""A run's inputs, found before any work: plain functions a test calls without a pipeline.

``paired_inputs`` turns ``--source``/``--input`` into ``(source, location)`` pairs;
``discover_all`` lists every pair's inputs with its source (through Beam's FileSystems,
so local paths and ``gs://`` alike), sorted by shape id and cut to ``--limit``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from featurizers.config import ConfigError, FeaturesConfig
from featurizers.names import escape_invalid_text
from pipelines.sinks import ManifestEntry
from pipelines.sources import SOURCES, SourceError, SourceInput
from schemas.common import one_line


def bundled_samples(source: str) -> str:
    """The folder of a source's bundled samples (``pipelines/samples/<source>``)."""
    return str(resources.files("pipelines") / "samples" / source)


def paired_inputs(given: Sequence[Sequence[str]]) -> tuple[tuple[str, str], ...]:
    """``(source, location)`` of every ``--source`` and ``--input`` in command-line order.

    Each ``--input`` belongs to the ``--source`` before it; a ``--source`` with no
    ``--input`` runs that source's bundled samples; no ``--source`` at all runs every
    source's samples.

    Args:
        given: ``[flag, value]`` pairs as ``FeaturesOptions`` collects them.

    Raises:
        ConfigError: an ``--input`` with no ``--source`` of its own, or a pair given twice.
    """
    pairs: list[tuple[str, str]] = []
    source = None
    for flag, value in given:
        if flag == "--input":
            if source is None:
                raise ConfigError(
                    f"--input needs --source: {value} has no --source of its own before it "
                    f"(one of: {', '.join(sorted(SOURCES))})"
                )
            pairs.append((source, value))
            source = None
        else:
            if source is not None:
                pairs.append((source, bundled_samples(source)))
            source = value
    if source is not None:
        pairs.append((source, bundled_samples(source)))
    for pair, count in Counter(pairs).items():
        if count > 1:
            raise ConfigError(f"--source {pair[0]} --input {pair[1]} is given {count} times")
    return tuple(pairs) or tuple((name, bundled_samples(name)) for name in sorted(SOURCES))


@dataclass(frozen=True)
class Discovered:
    """The inputs of a run, found before any work.

    Attributes:
        inputs: the inputs to run, sorted by shape id, cut to ``--limit``.
        rejected: failed manifest rows of inputs that cannot run: inputs sharing a shape
            id (their shard rows could not be told apart, so none of them runs).
    """

    inputs: list[SourceInput]
    rejected: list[ManifestEntry]

    @property
    def candidates(self) -> int:
        return len(self.inputs) + len(self.rejected)


def discover_all(config: FeaturesConfig) -> Discovered:
    """All inputs of ``config.inputs``, sorted by shape id and cut to ``config.limit``.

    Raises:
        ConfigError: an input location matches nothing, or its source cannot list it
            (a malformed ``metadata.csv``, an unreadable folder).
    """
    found = []
    for source_name, location in config.inputs:
        try:
            found.extend(SOURCES[source_name]().discover(location))
        except (OSError, SourceError) as exc:
            raise ConfigError(escape_invalid_text(one_line(exc, limit=None))) from exc
    found = sorted(found)[: config.limit]
    shared = Counter([source_input.shape_id for source_input in found])
    rejected = [
        ManifestEntry(
            source_input.shape_id,
            source_input.uri,
            "failed",
            f"discover: {shared[source_input.shape_id]} inputs share the shape id "
            f"{source_input.shape_id} (rename all but one); none of them runs",
        )
        for source_input in found
        if shared[source_input.shape_id] > 1
    ]
    return Discovered([i for i in found if shared[i.shape_id] == 1], rejected)
