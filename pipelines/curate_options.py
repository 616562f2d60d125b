"""The flags of ``--pipeline curate`` (``pipelines.curate`` runs them)."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from featurizers.curation import DEFAULT_LICENSES, CheckLimits
from ontology.curation import DEFAULT_BATCH_SIZE, DEFAULT_MIN_QUALITY
from pipelines.gemini_options import GeminiFlags, add_gemini_flags

#: ``--judge`` values: Gemini after the cheap checks, or the cheap checks alone.
JUDGES = ("gemini", "checks")


#: The curate pipeline's names for the Gemini client's flags.
JUDGE_FLAGS = GeminiFlags(
    max_calls="--judge-max-calls",
    model="--judge-model",
    base_url="--judge-base-url",
    timeout="--judge-timeout",
    attempts="--judge-attempts",
    batch_size="--judge-batch-size",
    workers="--judge-workers",
    cache_dir="--judge-cache-dir",
)


class CurateOptions(PipelineOptions):
    """Flags of the curate pipeline."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        limits = CheckLimits()
        parser.add_argument(
            "--listing",
            default=None,
            metavar="FILE",
            help="the assets to curate: a .csv or .jsonl listing (path, id, thumbnail, "
            "category, name, tags, categories, description, license) or an Objaverse/"
            "Sketchfab-style metadata .json",
        )
        parser.add_argument(
            "--min-triangles",
            type=int,
            default=limits.min_triangles,
            help=f"fewest triangles of an asset (default {limits.min_triangles})",
        )
        parser.add_argument(
            "--max-triangles",
            type=int,
            default=limits.max_triangles,
            help=f"most triangles of an asset (default {limits.max_triangles})",
        )
        parser.add_argument(
            "--require-texture",
            action="store_true",
            help="reject assets without a base-color texture",
        )
        parser.add_argument(
            "--max-objects",
            type=int,
            default=limits.max_objects,
            help="most separate objects (groups of touching parts holding 5%% of the "
            f"surface or more) before an asset counts as a scene (default {limits.max_objects})",
        )
        parser.add_argument(
            "--max-aspect",
            type=float,
            default=limits.max_aspect,
            help=f"largest longest-over-shortest bounding box side (default {limits.max_aspect:g})",
        )
        parser.add_argument(
            "--licenses",
            default=",".join(DEFAULT_LICENSES),
            help="allowed licence keys, comma-separated (cc0, by, by-sa, by-nc, ...), or "
            f"any (default {','.join(DEFAULT_LICENSES)})",
        )
        parser.add_argument(
            "--judge",
            choices=JUDGES,
            default="gemini",
            help="who judges what passes the checks: gemini (thumbnail and metadata; "
            "without an API key the checks alone decide) or checks (default gemini)",
        )
        parser.add_argument(
            "--judge-categories",
            default=None,
            metavar="PATH",
            help="categories Gemini guesses among: an ontology pipeline output folder, or "
            "a text file with one category per line",
        )
        parser.add_argument(
            "--judge-min-quality",
            type=int,
            default=DEFAULT_MIN_QUALITY,
            help=f"least Gemini quality (1-5) kept (default {DEFAULT_MIN_QUALITY})",
        )
        add_gemini_flags(
            parser,
            JUDGE_FLAGS,
            DEFAULT_BATCH_SIZE,
            "assets",
            "judgement cache (default OUTPUT/cache); keep it to make reruns free",
        )
