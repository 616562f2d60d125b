"""A run's inputs: the locations the command line names, checked by the launcher, and
listed by the workers.

``paired_inputs`` turns ``--source``/``--input`` into ``(source, location)`` pairs;
``check_location`` is the launcher's cheap check of one; ``DiscoverAll`` lists every pair's
inputs with its source inside the pipeline (through Beam's FileSystems, so local paths and
``gs://`` alike), cut to ``--limit``. Inputs sharing a shape id are found where inputs meet
the cache (``pipelines.incremental.PlanShape``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from importlib import resources

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from featurizers.config import ConfigError
from featurizers.names import escape_invalid_text
from pipelines.sinks import ManifestEntry
from pipelines.sources import SOURCES, SourceError, files
from pipelines.sources.generic import METADATA_FILE, read_path_table
from pipelines.stages import FAILED
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


def check_location(source: str, location: str) -> None:
    """What the launcher checks of an input location before submitting, without listing it:
    the location (or, for a folder on an object store, something below it) exists, and the
    side table that gives the generic source's categories (a CSV list, or a folder's
    ``metadata.csv``) parses. The inputs themselves are listed by the workers
    (``DiscoverInputs``).

    Raises:
        ConfigError: one line naming the location and what is wrong.
    """
    try:
        if not _matches_something(location):
            raise ConfigError(f"--source {source} --input {location} matches nothing")
        if source == "glb":
            table = location if location.lower().endswith(".csv") else None
            if table is None and not files.is_glob(location):
                metadata = files.join(location, METADATA_FILE)
                table = metadata if files.match([metadata]) else None
            if table is not None:
                read_path_table(table)
    except (OSError, SourceError) as exc:
        raise ConfigError(escape_invalid_text(one_line(exc, limit=None))) from exc


def _matches_something(location: str) -> bool:
    patterns = [location] if files.is_glob(location) else [location, files.join(location, "*")]
    return any(FileSystems.match([p], limits=[1])[0].metadata_list for p in patterns)


class DiscoverInputs(beam.DoFn):
    """``(source, location)`` -> the location's ``SourceInput``s, listed by a worker (so the
    job graph holds the locations, never the inputs). A location its source cannot list
    gives one ``failed`` manifest row (``FAILED``) named ``{source}:{location}``."""

    def process(self, pair: tuple[str, str]) -> Iterator:
        source_name, location = pair
        try:
            found = SOURCES[source_name]().discover(location)
        except (OSError, SourceError) as exc:
            reason = escape_invalid_text(f"discover: {one_line(exc, limit=None)}")
            entry = ManifestEntry(f"{source_name}:{location}", location, "failed", reason)
            yield beam.pvalue.TaggedOutput(FAILED, entry)
            return
        yield from found


class DiscoverAll(beam.PTransform):
    """The run's ``(source, location)`` pairs -> ``(inputs, failed)``: every input, cut to
    the ``limit`` first by shape id when one is given, and the locations that failed."""

    def __init__(self, pairs: Sequence[tuple[str, str]], limit: int | None):
        super().__init__()
        self.pairs = list(pairs)
        self.limit = limit

    def expand(self, pbegin: beam.pvalue.PBegin) -> tuple[beam.PCollection, beam.PCollection]:
        found = (
            pbegin
            | "Locations" >> beam.Create(self.pairs)
            | "ListInputs" >> beam.ParDo(DiscoverInputs()).with_outputs(FAILED, main="inputs")
        )
        inputs = found.inputs
        if self.limit is not None:
            inputs = (
                inputs
                | "First" >> beam.combiners.Top.Smallest(self.limit)
                | "Inputs" >> beam.FlatMap(lambda first: first)
            )
        return inputs, found[FAILED]
