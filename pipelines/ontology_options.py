"""The flags of ``--pipeline ontology`` (``pipelines.ontology`` runs them)."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from ontology.config import DESCRIBERS, EMBEDDERS, VERIFIERS
from ontology.embed import DEFAULT_MPNET_MODEL
from ontology.gemini import GeminiSettings
from pipelines.gemini_options import GeminiFlags, add_gemini_flags

#: The ontology pipeline's names for the Gemini client's flags.
GEMINI_FLAGS = GeminiFlags(
    max_calls="--max-llm-calls",
    model="--gemini-model",
    base_url="--gemini-base-url",
    timeout="--gemini-timeout",
    attempts="--gemini-attempts",
    batch_size="--llm-batch-size",
    workers="--llm-workers",
    cache_dir="--cache-dir",
)


class OntologyOptions(PipelineOptions):
    """Flags of the ontology pipeline."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--vocab",
            action="append",
            default=None,
            metavar="NAME[=PATH]",
            help="a vocabulary to unify (repeatable): partnet (the bundled PartNet label "
            "lists) or partnet=DIR (<Cat>.txt label lists), 3dcompat (the bundled "
            "3DCoMPaT++ metadata) or 3dcompat=DIR, find3d=DIR (label_map.json folders), "
            "generic=FILE.csv (dataset,category,part[,path,count]), shards=DIR (the raw part "
            "names of a features pipeline output)",
        )
        parser.add_argument(
            "--embedder", choices=EMBEDDERS, default="mpnet", help="text embedder (default mpnet)"
        )
        parser.add_argument(
            "--embedder-model",
            default=DEFAULT_MPNET_MODEL,
            help="SentenceTransformer hub id or local folder for --embedder mpnet "
            f"(default {DEFAULT_MPNET_MODEL})",
        )
        parser.add_argument(
            "--describer",
            choices=DESCRIBERS,
            default="gemini",
            help="who writes descriptions: gemini, or template (offline); default gemini",
        )
        parser.add_argument(
            "--verifier",
            choices=VERIFIERS,
            default="gemini",
            help="who decides what rules leave open: gemini, or rules (offline: left to "
            "review); default gemini",
        )
        parser.add_argument(
            "--overrides", default=None, metavar="FILE.csv", help="a person's decisions on pairs"
        )
        parser.add_argument(
            "--threshold",
            type=float,
            default=0.8,
            help="minimum cosine similarity of a candidate pair (default 0.8)",
        )
        parser.add_argument(
            "--max-group-size",
            type=int,
            default=8,
            help="largest group merged without review (default 8)",
        )
        add_gemini_flags(
            parser,
            GEMINI_FLAGS,
            GeminiSettings.batch_size,
            "names or pairs",
            "description and verdict cache (default OUTPUT/cache); keep it to make reruns free",
        )
