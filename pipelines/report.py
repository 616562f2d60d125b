"""``--pipeline report``: a partbank output -> ``OUTPUT/report/index.html`` and its PNGs.

``--output OUT`` reports on OUT into ``OUT/report/``; ``--report-input SRC --output DEST``
reads SRC (``gs://`` too) and writes ``DEST/report/``.

A person opens the page in a browser to look before training: the run (config, versions,
models with random weights in red, device, runner), its counts, stage timings and
shapes/s, the failures and warnings, pictures of every shape (or a seeded sample) and,
for an ontology output, its merges, rejections and review items. The page is
self-contained: inline CSS, pictures by relative path, nothing fetched at view time.

Graph (the launcher reads the run files, the latest committed manifest and the ontology
files, and picks the shapes; ``featurizers.previews`` draws the pictures)::

    shapes -> FeatureSamples (rows of dino/partfield per shape) -> GroupByKey -> FitPca
    shapes -> WritePreviews (side input: one PCA per column) -> PNGs, one summary per shape
           -> ToList -> WritePage (index.html)

One PCA per feature column is fitted on samples of every previewed shape, so a colour
means the same in every picture. Pictures are written with ``write_atomically`` (local or
``gs://``); a shape whose pictures fail gets its one-line error on the page, and the rest
of the report goes on.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import re
import sys
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions
from PIL import Image

from featurizers.previews import (
    PCA_COLUMNS,
    FeaturePca,
    feature_sample,
    fit_pca,
    part_legend,
    shape_previews,
)
from pipelines.options import CommonOptions
from pipelines.report_options import ReportOptions
from pipelines.run_info import iso_utc
from schemas.common import one_line, write_atomically
from schemas.locations import Location
from schemas.reader import ShardReader
from schemas.table import COMMITTED_STATUSES, FeatureTable

log = logging.getLogger(__name__)

#: The report's folder inside OUTPUT.
REPORT_FOLDER = "report"
#: Rows of each feature column a shape gives to its column's PCA.
PCA_ROWS_PER_SHAPE = 1024
#: Rows shown of a long table (merges, rejections, review items, failures, warnings).
MAX_TABLE_ROWS = 200
#: Bins of a similarity histogram over [0, 1].
HISTOGRAM_BINS = 20
#: Side of the rendered views of a contact sheet made on the fly, in pixels.
VIEW_SIZE = 192
#: Picture names in page order, and their captions.
PICTURES = {
    "views": "views",
    "parts": "parts",
    "views_seen": "views_seen",
    "dino_pca": "dino, PCA as RGB",
    "partfield_pca": "partfield, PCA as RGB",
}


class ReportInputError(ValueError):
    """An output folder the report cannot read; the message is one line."""


@dataclass(frozen=True)
class ShapeRef:
    """A shape to preview: where its row is, and where its pictures go.

    Attributes:
        shape_id: the shape.
        shard: the committed shard file holding it (as a location string).
        row: its row in that file.
        folder: its pictures' folder under ``report/shapes/``.
        uri: its input (the manifest's ``uri``), to render views from when ``views`` is "".
        views: the ``views/`` file of its shard, or "" when views were not emitted.
    """

    shape_id: str
    shard: str
    row: int
    folder: str
    uri: str
    views: str


def run(options: PipelineOptions) -> int:
    """Write the report of ``--report-input`` (default ``--output``) into
    ``OUTPUT/report/``; 0 on success, 2 when there is nothing to read."""
    flags = options.view_as(ReportOptions)
    output = options.view_as(CommonOptions).output.rstrip("/")
    source = (flags.report_input or output).rstrip("/")
    try:
        if flags.report_shapes < 0 or flags.report_views < 1:
            raise ReportInputError("--report-shapes must be >= 0 and --report-views >= 1")
        facts, refs = gather(source, flags.report_ontology, flags.report_shapes, flags.report_seed)
    except (ValueError, OSError) as error:  # ReportInputError, unreadable Parquet (Arrow)
        print(f"beam_runner.py --pipeline report: {one_line(error)}", file=sys.stderr)
        return 2
    report = f"{output}/{REPORT_FOLDER}"
    _remove_old_pictures(Location.of(report))
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, facts, refs, report, flags.report_views)
    pipeline.run().wait_until_finish()
    log.info("report: %d shapes previewed -> %s/index.html", len(refs), report)
    return 0


def build_pipeline(
    pipeline: beam.Pipeline,
    facts: Mapping[str, Any],
    refs: Sequence[ShapeRef],
    report: str,
    views: int,
) -> None:
    """Add the report graph to ``pipeline``: pictures of ``refs`` and the page, into
    ``report`` (a folder, local or ``gs://``)."""
    shapes = pipeline | "Shapes" >> beam.Create(list(refs))
    pcas = (
        shapes
        | "FeatureSamples" >> beam.FlatMap(_feature_samples)
        | "GroupByColumn" >> beam.GroupByKey()
        | "FitPca" >> beam.MapTuple(_fit_column)
    )
    _ = (
        shapes
        | "WritePreviews" >> beam.ParDo(WritePreviews(report, views), beam.pvalue.AsDict(pcas))
        | "AllShapes" >> beam.combiners.ToList()
        | "WritePage" >> beam.Map(write_page, facts, report)
    )


# --- what the launcher reads -------------------------------------------------------------


def gather(
    output: str, ontology: str | None, shapes: int, seed: int
) -> tuple[dict[str, Any], list[ShapeRef]]:
    """The facts the page shows and the shapes to preview.

    Args:
        output: the partbank output folder (local or a URI).
        ontology: an ontology output folder, or None (then ``output`` when it holds one).
        shapes: how many shapes to preview (0: all).
        seed: seed of the sample.

    Raises:
        ReportInputError: nothing to report in ``output``, or ``ontology`` holds none.
    """
    root = Location.of(output)
    features = _features_facts(root)
    refs = _shape_refs(root, features, shapes, seed) if features["version"] else []
    del features["uris"]  # the refs hold what the pictures need; the page only shows tables
    for table in ("failures", "warnings"):  # the page shows the first rows and the total
        features[f"{table}_total"] = len(features[table])
        features[table] = features[table][:MAX_TABLE_ROWS]
    ontology_root = Location.of(ontology) if ontology else root
    has_ontology = (ontology_root / "ontology" / "alias_log.jsonl").is_file()
    if ontology and not has_ontology:
        raise ReportInputError(f"{ontology}: no ontology output (ontology/alias_log.jsonl)")
    if features["run"] is None and features["version"] is None and not has_ontology:
        raise ReportInputError(
            f"{output}: no partbank output to report (no features_run.json, no committed "
            "features/ version, no ontology/); pass the output folder of a run as --output "
            "or --report-input"
        )
    facts = {
        "output": output,
        "generated_at": iso_utc(time.time()),
        "features": features if (features["run"] or features["version"]) else None,
        "ontology": _ontology_facts(ontology_root) if has_ontology else None,
        "sample": {"total": features.get("shapes", 0), "shown": len(refs), "seed": seed},
    }
    return facts, refs


def _read_json(file: Location) -> dict[str, Any] | None:
    """A JSON file's document; None when there is no such file."""
    return _parse_json(file, file.read_text()) if file.is_file() else None


def _parse_json(file: Location, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise ReportInputError(f"{file}: not valid JSON: {error}") from error


def _features_facts(root: Location) -> dict[str, Any]:
    """The features run: run file, latest version, counts, failures and warnings."""
    run = _read_json(root / "features_run.json")
    table = FeatureTable(root / "features")
    version = table.latest_version()
    facts: dict[str, Any] = {"run": run, "version": version, "versions": table.versions()}
    manifest = table.manifest(version).to_pylist() if version else []
    run_version = run.get("version") if run else version
    if run is not None and run_version != version:
        facts["note"] = (
            f"features_run.json describes a run that committed "
            f"{'nothing' if run_version is None else f'version {run_version}'}; the latest "
            f"committed version is {version}. Failures and warnings come from the run file; "
            "the pictures show the latest version."
        )
        facts["failures"], facts["warnings"] = _problems(run.get("problems") or [])
    else:
        facts["failures"] = [
            (row["shape_id"], row["uri"], row["error"])
            for row in manifest
            if row["status"] == "failed"
        ]
        facts["warnings"] = [
            (row["shape_id"], row["uri"], warning)
            for row in manifest
            for warning in row["warnings"] or []
        ]
    facts["counts"] = dict(run["counts"]) if run else _manifest_counts(manifest)
    facts["counts"]["warnings"] = run["warnings"] if run else len(facts["warnings"])
    facts["uris"] = {row["shape_id"]: row["uri"] for row in manifest}
    facts["shapes"] = sum(row["status"] in COMMITTED_STATUSES for row in manifest)
    return facts


def _manifest_counts(manifest: list[dict]) -> dict[str, int]:
    statuses = [row["status"] for row in manifest]
    counts = {status: statuses.count(status) for status in ("ok", "skipped_cached", "failed")}
    counts["with_warnings"] = sum(
        bool(row["warnings"]) for row in manifest if row["status"] in COMMITTED_STATUSES
    )
    return counts


def _problems(lines: Sequence[str]) -> tuple[list[tuple], list[tuple]]:
    """Failures and warnings from the run file's ``failed: ID: ERROR`` and ``warning: ID:
    W1; W2`` lines (the input's uri is not in them: "")."""
    failures, warnings = [], []
    for line in lines:
        kind, _, rest = line.partition(": ")
        shape_id, _, text = rest.partition(": ")
        if kind == "failed":
            failures.append((shape_id, "", text))
        elif kind == "warning":
            warnings.extend((shape_id, "", warning) for warning in text.split("; "))
    return failures, warnings


def _shape_refs(root: Location, features: dict, count: int, seed: int) -> list[ShapeRef]:
    """The committed shapes to preview, sorted by shape id: all of them, or ``count``
    chosen by ``seed``."""
    table = FeatureTable(root / "features")
    found: list[tuple[str, str, int, str]] = []
    for shard in table.shard_files(features["version"]):
        ids = pq.read_table(shard.path, columns=["shape_id"], filesystem=shard.filesystem)
        views = root / "views" / shard.name
        views_file = str(views) if views.is_file() else ""
        found += [
            (i, str(shard), row, views_file) for row, i in enumerate(ids["shape_id"].to_pylist())
        ]
    found.sort()
    if 0 < count < len(found):
        chosen = np.random.default_rng(seed).choice(len(found), size=count, replace=False)
        found = [found[i] for i in sorted(chosen)]
    return [
        ShapeRef(
            shape_id, shard, row, _folder_name(shape_id), features["uris"].get(shape_id, ""), views
        )
        for shape_id, shard, row, views in found
    ]


def _folder_name(shape_id: str) -> str:
    """A file-name-safe folder for a shape's pictures: its id's safe characters and a
    digest of the id (two ids that differ only in unsafe characters stay apart)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", shape_id).strip("._")[:80]
    return f"{safe}-{zlib.crc32(shape_id.encode('utf-8', 'surrogatepass')):08x}"


def _ontology_facts(root: Location) -> dict[str, Any]:
    """An ontology output: counts, merges, rejections, review items, canonical parts."""
    folder = root / "ontology"
    log_file = folder / "alias_log.jsonl"
    decisions = [
        _parse_json(log_file, line) for line in log_file.read_text().splitlines() if line.strip()
    ]
    review_file = folder / "review.csv"
    review = (
        list(csv.DictReader(io.StringIO(review_file.read_text()))) if review_file.is_file() else []
    )
    parts = _parquet_rows(folder / "parts.parquet", ["part_uid", "category", "name", "aliases"])
    run = _read_json(root / "ontology_run.json")
    return {
        "folder": str(folder),
        "run": run,
        "merges": _strongest_first(r for r in decisions if r["decision"] == "merge"),
        "rejections": _strongest_first(r for r in decisions if r["decision"] == "keep_separate"),
        "review": sorted(
            review, key=lambda r: (-float(r["similarity"] or 0), r["name_a"], r["name_b"])
        ),
        "parts": sorted(parts, key=lambda r: (r["category"], r["part_uid"])),
    }


def _strongest_first(rows: Iterator[dict]) -> list[dict]:
    return sorted(
        rows,
        key=lambda r: (
            -(r.get("similarity") or 0.0),
            r["category"] or "",
            r["alias"],
            r["canonical"],
        ),
    )


def _parquet_rows(file: Location, columns: list[str]) -> list[dict]:
    if not file.is_file():
        return []
    return pq.read_table(file.path, columns=columns, filesystem=file.filesystem).to_pylist()


def _remove_old_pictures(report: Location) -> None:
    """Delete the pictures of an earlier report (another sample would leave them)."""
    shapes = report / "shapes"
    if shapes.is_dir():
        shapes.filesystem.delete_dir(shapes.path)


# --- the Beam steps ------------------------------------------------------------------------


def _read_shape(ref: ShapeRef, columns: Sequence[str] | None = None) -> dict[str, Any]:
    return ShardReader(ref.shard, columns=columns)[ref.row]


def _feature_samples(ref: ShapeRef) -> Iterator[tuple[str, tuple[str, np.ndarray]]]:
    """(column, (shape id, rows)): up to ``PCA_ROWS_PER_SHAPE`` rows of each feature
    column the shape has, chosen by a seed from its id. A row that cannot be read gives
    none (``WritePreviews`` reports it)."""
    try:
        shape = _read_shape(ref, ["shape_id", *PCA_COLUMNS])
    except Exception as error:  # a bad row must not end the report
        log.warning("report: %s: %s", ref.shape_id, one_line(error))
        return
    seed = zlib.crc32(ref.shape_id.encode("utf-8", "surrogatepass"))
    for column in PCA_COLUMNS:
        if column in shape:
            yield column, (ref.shape_id, feature_sample(shape[column], PCA_ROWS_PER_SHAPE, seed))


def _fit_column(column: str, samples: Sequence[tuple[str, np.ndarray]]) -> tuple[str, FeaturePca]:
    """One PCA of ``column`` from every shape's rows, taken in shape id order."""
    return column, fit_pca(column, [rows for _, rows in sorted(samples, key=lambda s: s[0])])


class WritePreviews(beam.DoFn):
    """A shape's pictures as PNGs under ``report/shapes/<folder>/``; yields its summary for
    the page: ``ref``, ``category``, ``points``, ``legend`` ((part name, RGB) pairs),
    ``pictures`` (name -> path relative to the page), ``notes`` and ``error`` (the one-line
    reason when its pictures could not be made, else "")."""

    def __init__(self, report: str, views: int) -> None:
        self._report = report
        self._views = views

    def process(self, ref: ShapeRef, pcas: Mapping[str, FeaturePca]) -> Iterator[dict[str, Any]]:
        summary: dict[str, Any] = {"ref": asdict(ref), "pictures": {}, "notes": [], "error": ""}
        try:
            shape = _read_shape(ref)
            summary.update(
                category=shape.get("category", ""),
                points=len(shape["points"]),
                legend=part_legend(shape),
            )
            views, note = self._view_images(ref, shape)
            if note:
                summary["notes"].append(note)
            for name, picture in shape_previews(shape, pcas, views).items():
                relative = f"shapes/{ref.folder}/{name}.png"
                _write_png(f"{self._report}/{relative}", picture)
                summary["pictures"][name] = relative
        except Exception as error:  # one shape's bad row or render must not end the report
            summary["error"] = one_line(error)
            log.warning("report: %s: %s", ref.shape_id, summary["error"])
        yield summary

    def _view_images(self, ref: ShapeRef, shape: Mapping) -> tuple[list[Image.Image], str]:
        """The shape's views from ``views/``, else rendered from its input; a note on
        where they came from, or why there are none."""
        if ref.views:
            return _table_views(ref), "views: from views/ (--emit-views)"
        try:
            return _rendered_views(ref, shape, self._views), "views: rendered from the input"
        except Exception as error:  # the input may be gone or unreadable from here
            return [], f"views: none (input not rendered: {one_line(error)})"


def _table_views(ref: ShapeRef) -> list[Image.Image]:
    """The shape's ``rgb_png`` renders from its shard's ``views/`` file, by view."""
    file = Location.of(ref.views)
    table = pq.read_table(
        file.path,
        columns=["view", "rgb_png"],
        filters=[("shape_id", "=", ref.shape_id)],
        filesystem=file.filesystem,
    ).sort_by("view")
    return [Image.open(io.BytesIO(png)) for png in table["rgb_png"].to_pylist()]


def _rendered_views(ref: ShapeRef, shape: Mapping, views: int) -> list[Image.Image]:
    """The shape's input, loaded by its source and rendered shaded around the orbit."""
    from featurizers.cameras import orbit_rig
    from featurizers.rendering import render_shape
    from pipelines.sources import SOURCES, SourceInput

    if not ref.uri:
        raise ReportInputError("the manifest names no input")
    source = SOURCES[shape["source"]]()
    record = source.load(SourceInput(ref.shape_id, ref.uri, shape.get("category_raw", "")))
    rig = orbit_rig(num_views=views, image_size=VIEW_SIZE)
    renders = render_shape(record, rig, shape["center"], float(shape["scale"]), mode="shaded")
    return [Image.fromarray(image) for image in renders.rgb]


def _write_png(path: str, picture: Image.Image) -> None:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    write_atomically(path, lambda stream: stream.write(data))


# --- the page ------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: #c00; font-weight: bold; } .muted { color: #777; }
.shape { border: 1px solid #ddd; margin: 0.8em 0; padding: 0.5em; }
.shape figure { display: inline-block; margin: 0 0.6em 0.4em 0; vertical-align: top; }
.shape img { height: 200px; }
.shape figcaption { font-size: 12px; color: #555; }
.swatch { display: inline-block; width: 10px; height: 10px; border: 1px solid #333;
  margin-right: 3px; }
.legend span.part { margin-right: 0.8em; white-space: nowrap; }
.hist { display: flex; align-items: flex-end; height: 80px; gap: 1px; margin: 0.3em 0; }
.hist div { background: #4a78b0; width: 14px; }
.hist-axis { display: flex; justify-content: space-between; width: 300px; font-size: 11px; }
pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; }
"""


def write_page(summaries: Sequence[dict[str, Any]], facts: Mapping[str, Any], report: str) -> None:
    """Write ``report/index.html`` from the launcher's facts and every shape's summary."""
    text = page_html(facts, sorted(summaries, key=lambda s: s["ref"]["shape_id"]))
    data = text.encode("utf-8", "backslashreplace")  # a lone surrogate is spelled, not fatal
    write_atomically(f"{report}/index.html", lambda stream: stream.write(data))


def page_html(facts: Mapping[str, Any], summaries: Sequence[dict[str, Any]]) -> str:
    """The report page."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>partbank report: {_e(facts['output'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>partbank report: {_e(facts['output'])}</h1>",
        f'<p class="muted">generated {_e(facts["generated_at"])}</p>',
    ]
    if facts["features"]:
        parts += _features_section(facts["features"])
        parts += _shapes_section(facts["sample"], summaries)
    if facts["ontology"]:
        parts += _ontology_section(facts["ontology"])
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    table_id: str = "",
    total: int | None = None,
) -> list[str]:
    """An HTML table of at most ``MAX_TABLE_ROWS`` rows, and a line on the rest of
    ``total`` rows (default: ``len(rows)``)."""
    total = len(rows) if total is None else total
    if not rows:
        return ['<p class="muted">none</p>']
    attribute = f' id="{table_id}"' if table_id else ""
    lines = [f"<table{attribute}><tr>{''.join(f'<th>{_e(h)}</th>' for h in header)}</tr>"]
    for row in rows[:MAX_TABLE_ROWS]:
        cells = "".join(
            f'<td class="num">{_e(_number(c))}</td>'
            if isinstance(c, (int, float))
            else f"<td>{_e(c)}</td>"
            for c in row
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</table>")
    if total > min(len(rows), MAX_TABLE_ROWS):
        shown = min(len(rows), MAX_TABLE_ROWS)
        lines.append(f'<p class="muted">... and {total - shown} more rows</p>')
    return lines


def _number(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _models_html(models: Any) -> str:
    text = _e(models)
    if models == "random-init":
        return (
            f'<span class="bad" id="random-init">{text} (RANDOM weights: not for training)</span>'
        )
    return text


def _features_section(features: Mapping[str, Any]) -> list[str]:
    run = features["run"] or {}
    counts = features["counts"]
    lines = ["<h2>Features run</h2>"]
    if features.get("note"):
        lines.append(f'<p class="bad">{_e(features["note"])}</p>')
    if not features["run"]:
        lines.append('<p class="muted">no features_run.json: facts from the latest manifest</p>')
    versions = features["versions"]
    config = run.get("config") or {}
    facts = [
        ("started", run.get("started_at", "")),
        ("finished", run.get("finished_at", "")),
        ("version", f"{features['version']} (committed versions: {len(versions)})"),
        ("config_hash", run.get("config_hash", "")),
        ("featurizers", ", ".join(config.get("featurizers") or []) or "none"),
        ("device", run.get("device", "")),
        ("renderer", run.get("renderer", "")),
        ("runner", json.dumps(run.get("runner", ""), sort_keys=True)),
    ]
    lines.append("<table>")
    lines.append(f"<tr><th>models</th><td>{_models_html(run.get('models', ''))}</td></tr>")
    lines += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts]
    lines.append("</table>")
    lines.append("<h3>Counts</h3><table><tr>")
    names = ("ok", "skipped_cached", "failed", "with_warnings", "warnings")
    lines.append("".join(f"<th>{name}</th>" for name in names) + "</tr><tr>")
    lines.append(
        "".join(f'<td class="num" id="count-{name}">{counts.get(name, 0)}</td>' for name in names)
    )
    lines.append("</tr></table>")
    lines.append("<h3>Timings</h3>")
    lines += _timings(run.get("timings_s") or {}, counts.get("ok", 0))
    lines.append("<h3>Failures</h3>")
    failures, warnings = features["failures"], features["warnings"]
    lines += _table(("shape", "input", "reason"), failures, "failures", features["failures_total"])
    lines.append("<h3>Warnings</h3>")
    lines += _table(("shape", "input", "warning"), warnings, "warnings", features["warnings_total"])
    lines.append("<details><summary>config and versions</summary>")
    lines.append(f"<pre>{_e(json.dumps(config, indent=2, sort_keys=True))}</pre>")
    lines.append(f"<pre>{_e(json.dumps(run.get('versions', {}), indent=2, sort_keys=True))}</pre>")
    lines.append("</details>")
    return lines


def _timings(timings: Mapping[str, float], shapes: int) -> list[str]:
    """Seconds per stage and the shapes/s they make for the ``shapes`` this run
    featurized (a stage's seconds are summed over workers; ``pipeline`` is wall time)."""
    last = ("pipeline", "total")  # the run's own times after its stages'
    order = sorted(
        timings, key=lambda stage: (stage in last, last.index(stage) if stage in last else 0, stage)
    )
    rows = [
        (
            stage,
            timings[stage],
            round(shapes / timings[stage], 2) if shapes and timings[stage] > 0 else "-",
        )
        for stage in order
    ]
    return [
        *_table(("stage", "seconds", "shapes/s"), rows, "timings"),
        '<p class="muted">stage seconds are summed over workers; shapes/s counts the shapes '
        "this run featurized (ok)</p>",
    ]


def _shapes_section(sample: Mapping[str, Any], summaries: Sequence[dict[str, Any]]) -> list[str]:
    total, shown = sample["total"], sample["shown"]
    which = "every shape" if shown == total else f"a sample chosen by seed {sample['seed']}"
    lines = [
        "<h2>Shapes</h2>",
        f"<p>{shown} of {total} shapes of the latest version ({_e(which)}). PCA colours "
        "are comparable across shapes: one PCA per column is fitted on all shapes shown.</p>",
    ]
    for summary in summaries:
        lines += _shape_html(summary)
    return lines


def _shape_html(summary: Mapping[str, Any]) -> list[str]:
    ref = summary["ref"]
    lines = [f'<div class="shape"><h3>{_e(ref["shape_id"])}</h3>']
    if summary["error"]:
        lines.append(f'<p class="bad">no pictures: {_e(summary["error"])}</p></div>')
        return lines
    lines.append(
        f"<p>category {_e(summary['category'])}, {summary['points']} points, input "
        f"{_e(ref['uri'])}</p>"
    )
    legend = "".join(
        f'<span class="part"><span class="swatch" style="background: rgb{tuple(color)}">'
        f"</span>{_e(name)}</span>"
        for name, color in summary["legend"]
    )
    lines.append(f'<p class="legend">{legend}</p>')
    for name, caption in PICTURES.items():
        if name in summary["pictures"]:
            path = _e(summary["pictures"][name])
            lines.append(
                f'<figure><img src="{path}" alt="{_e(ref["shape_id"])} {_e(caption)}">'
                f"<figcaption>{_e(caption)}</figcaption></figure>"
            )
    lines += [f'<p class="muted">{_e(note)}</p>' for note in summary["notes"]]
    lines.append("</div>")
    return lines


def _histogram(similarities: Sequence[float], title: str) -> list[str]:
    """An inline bar chart of similarities in ``HISTOGRAM_BINS`` bins over [0, 1]
    (values outside are counted in the end bins)."""
    values = np.clip(np.asarray([s for s in similarities if s is not None], float), 0.0, 1.0)
    counts, _ = np.histogram(values, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    top = max(int(counts.max(initial=0)), 1)
    bars = "".join(
        f'<div style="height: {round(80 * c / top)}px" title="{i / HISTOGRAM_BINS:.2f}-'
        f'{(i + 1) / HISTOGRAM_BINS:.2f}: {c}"></div>'
        for i, c in enumerate(counts)
    )
    return [
        f"<p>{_e(title)}: similarity of {len(values)} pairs</p>",
        f'<div class="hist">{bars}</div><div class="hist-axis"><span>0</span><span>0.5</span>'
        "<span>1</span></div>",
    ]


def _ontology_section(ontology: Mapping[str, Any]) -> list[str]:
    run = ontology["run"] or {}
    counts = run.get("counts") or {}
    lines = ["<h2>Ontology</h2>", f"<p>{_e(ontology['folder'])}</p>"]
    names = ("categories", "parts", "merges", "rejections", "review_items", "llm_calls")
    lines += _table(names, [[counts.get(name, "-") for name in names]], "ontology-counts")
    decision = ("kind", "category", "alias", "canonical", "similarity", "verifier", "rationale")
    for title, key in (("Merges", "merges"), ("Rejections", "rejections")):
        rows = ontology[key]
        lines.append(f"<h3>{title}</h3>")
        lines += _histogram([r.get("similarity") for r in rows], title)
        lines += _table(
            decision, [[r.get(c) if r.get(c) is not None else "" for c in decision] for r in rows]
        )
    lines.append("<h3>Review items</h3>")
    review = ontology["review"]
    lines += _histogram([float(r["similarity"]) for r in review if r["similarity"]], "Review items")
    header = ("kind", "category", "name_a", "name_b", "similarity", "reason", "detail")
    lines += _table(header, [[r.get(c, "") for c in header] for r in review], "review")
    lines.append("<h3>Canonical parts</h3>")
    by_category: dict[str, list[dict]] = {}
    for part in ontology["parts"]:
        by_category.setdefault(part["category"], []).append(part)
    for category, parts in by_category.items():
        rows = [
            (p["name"], ", ".join(a for a in p["aliases"] or [] if a != p["name"])) for p in parts
        ]
        lines.append(f"<details><summary>{_e(category)} ({len(parts)} parts)</summary>")
        lines += _table(("part", "aliases"), rows)
        lines.append("</details>")
    return lines
