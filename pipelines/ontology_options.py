"""The flags of ``--pipeline ontology`` (``pipelines.ontology`` runs them)."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from ontology.config import DESCRIBERS, EMBEDDERS, VERIFIERS
from ontology.embed import DEFAULT_MPNET_MODEL
from ontology.gemini import DEFAULT_MODEL, GeminiSettings


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
        parser.add_argument(
            "--max-llm-calls",
            type=int,
            default=None,
            metavar="N",
            help="most Gemini HTTP requests the run sends, retries included (default: unlimited)",
        )
        parser.add_argument(
            "--gemini-model", default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}"
        )
        parser.add_argument(
            "--gemini-base-url", default=None, help="Gemini API endpoint (a proxy, or a test fake)"
        )
        parser.add_argument(
            "--gemini-timeout",
            type=float,
            default=GeminiSettings.timeout_s,
            help=f"seconds per request (default {GeminiSettings.timeout_s:g})",
        )
        parser.add_argument(
            "--gemini-attempts",
            type=int,
            default=GeminiSettings.http_attempts,
            help="tries per request on 429/5xx/timeouts, with exponential backoff; each try "
            f"counts against --max-llm-calls (default {GeminiSettings.http_attempts})",
        )
        parser.add_argument(
            "--llm-batch-size",
            type=int,
            default=GeminiSettings.batch_size,
            help=f"names or pairs per Gemini request (default {GeminiSettings.batch_size})",
        )
        parser.add_argument(
            "--llm-workers",
            type=int,
            default=GeminiSettings.workers,
            help=f"Gemini requests in flight at once (default {GeminiSettings.workers})",
        )
        parser.add_argument(
            "--cache-dir",
            default=None,
            help="description and verdict cache (default OUTPUT/cache); keep it to make "
            "reruns free",
        )
