"""The end of a features run, inside the pipeline: commit, clean up, write the run file.

``CommitRun`` gets the run's whole manifest (one small row per input) on one worker once
every shard is written, so a launcher that submits and exits (``--no-wait``) loses
nothing:

1. a run with at least one shape ``ok`` or ``skipped_cached`` commits its manifest as the
   next version of the features table (``schemas.table.FeatureTable.commit``); a run with
   none commits nothing and deletes nothing;
2. after a commit, the files no version names are deleted: shards and views files of
   killed runs (their rows were reused by this run or are recomputed), temporary files
   of interrupted writes, shards whose wanted rows moved, shards of the layout before
   versions;
3. ``OUT/features_run.json`` says what happened (counts, version, shards, problems).

Rows are never deleted from a committed version: every version's files stay until no
version names them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam

from pipelines.run_info import write_run_summary
from pipelines.sinks import ManifestEntry, manifest_table, summarize_manifest
from schemas.table import FeatureTable

LOGGER = logging.getLogger(__name__)

#: The problem lines (failures, warnings) a run file holds at most; the manifest has all.
MAX_PROBLEM_LINES = 1000


def remove_unreferenced(table: FeatureTable, views_dir: str) -> list[str]:
    """Delete the shard, views and temporary files that no committed version names.

    Call it only after a commit, when no run writes into the output.

    Returns:
        The deleted files' URIs, sorted.
    """
    referenced = table.referenced_shards()
    # the views folder has no versions of its own: its files follow the shards they match
    views = FeatureTable(views_dir).unreferenced_files()
    stale = table.unreferenced_files() + [f for f in views if f.name not in referenced]
    for file in stale:
        file.filesystem.delete_file(file.path)
    return sorted(file.uri for file in stale)


class CommitRun(beam.DoFn):
    """The run's manifest entries (one list) -> the committed version (or None).

    Args:
        output: the run's ``--output``.
        features_dir, views_dir: the features table and its views files.
        started_at: the launcher's start, seconds since the epoch.
        facts: the run file's fields the launcher knows (config, versions, runner, ...).
        commit_metadata: stored with the version (config hash, models, ...).
        describe_device: a worker's description of where models and rendering ran
            (``{"device": ..., "renderer": ...}``), called here on a worker.
    """

    def __init__(
        self,
        output: str,
        features_dir: str,
        views_dir: str,
        started_at: float,
        facts: Mapping[str, Any],
        commit_metadata: Mapping[str, Any],
        describe_device: Any = None,
    ):
        self.output = output
        self.features_dir = features_dir
        self.views_dir = views_dir
        self.started_at = started_at
        self.facts = dict(facts)
        self.commit_metadata = dict(commit_metadata)
        self.describe_device = describe_device

    def process(self, entries: list[ManifestEntry]) -> Iterator[int | None]:
        manifest = manifest_table(entries)
        summary = summarize_manifest(manifest)
        table = FeatureTable(self.features_dir)
        counts = summary.counts
        version, removed = None, []
        if counts["ok"] + counts["skipped_cached"]:
            version = table.commit(manifest, self.commit_metadata)
            removed = remove_unreferenced(table, self.views_dir)
            LOGGER.info("features: committed version %d of %s", version, self.features_dir)
        else:
            LOGGER.warning(
                "features: no shape written or reused: nothing committed, nothing deleted in %s",
                self.features_dir,
            )
        problems = summary.lines[:MAX_PROBLEM_LINES]
        if len(summary.lines) > MAX_PROBLEM_LINES:
            problems.append(
                f"... and {len(summary.lines) - MAX_PROBLEM_LINES} more (see the manifest)"
            )
        write_run_summary(
            self.output,
            "features",
            self.started_at,
            {"pipeline": round(time.time() - self.started_at, 3)},
            self.facts["versions"],
            **{key: value for key, value in self.facts.items() if key != "versions"},
            **(self.describe_device() if self.describe_device else {}),
            inputs=manifest.num_rows,
            counts=counts,
            warnings=summary.warnings,
            version=version,
            shards=summary.shards if version is not None else [],
            removed_files=removed,
            problems=problems,
        )
        yield version
