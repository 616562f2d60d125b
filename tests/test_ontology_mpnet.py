"""The MPNet embedder with a tiny random MPNet SentenceTransformer built offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ontology.embed import ModelUnavailableError, mpnet_spec
from tests.ontology_helpers import read_run, run_ontology

WORDS = [
    "chair",
    "seat",
    "leg",
    "back",
    "arm",
    "rest",
    "bar",
    "stretcher",
    "the",
    "of",
    "a",
    "part",
    "kind",
    "object",
]


@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SentenceTransformer (MPNet, mean pooling, normalize) with random 32-D weights."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import MPNetConfig, MPNetModel, MPNetTokenizer

    folder = tmp_path_factory.mktemp("mpnet")
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = ["<s>", "<pad>", "</s>", "[UNK]", "<mask>", *letters, *WORDS]
    tokens += [f"##{c}" for c in letters] + list(":,.-_()'\"")
    tokenizer = MPNetTokenizer(vocab={token: i for i, token in enumerate(tokens)})
    torch.manual_seed(0)
    config = MPNetConfig(
        vocab_size=len(tokens),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=130,
    )
    MPNetModel(config).save_pretrained(folder / "hf")
    tokenizer.save_pretrained(folder / "hf")
    transformer = Transformer(str(folder / "hf"), max_seq_length=128)
    pooling = Pooling(transformer.get_embedding_dimension(), "mean")
    SentenceTransformer(modules=[transformer, pooling, Normalize()]).save(str(folder / "st"))
    return folder / "st"


def test_embeddings_are_unit_norm_and_deterministic(tiny_mpnet: Path) -> None:
    spec = mpnet_spec(str(tiny_mpnet))
    assert (spec.kind, spec.dimensions) == ("mpnet", 32)
    texts = ["chair seat: the seat of a chair", "leg: the leg of a chair", "back"]
    first = spec.build().embed(texts)
    assert first.shape == (3, 32) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(spec.build().embed(texts), first)


def test_missing_weights_stop_the_run_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as error:
        mpnet_spec("sentence-transformers/all-mpnet-base-v2")
    message = str(error.value)
    assert "all-mpnet-base-v2" in message and "--embedder lexical" in message
    csv = tmp_path / "names.csv"
    csv.write_text("dataset,category,part\nweb,chair,seat\n")
    output = tmp_path / "out"
    flags = ("--vocab", f"generic={csv}", "--verifier", "rules", "--describer", "template")
    assert run_ontology(output, *flags) == 2  # --embedder mpnet is the default
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hf download" in err
    assert not output.exists()


def test_pipeline_runs_with_mpnet(tiny_mpnet: Path, tmp_path: Path) -> None:
    csv = tmp_path / "names.csv"
    csv.write_text(
        "dataset,category,part\n"
        "partnet,Chair,bar_stretcher\npartnet,Chair,seat\n"
        "3dcompat,chair,stretcher\n3dcompat,chair,chair_seat\n"
    )
    flags = (
        "--vocab",
        f"generic={csv}",
        "--embedder",
        "mpnet",
        "--embedder-model",
        str(tiny_mpnet),
    )
    output = tmp_path / "out"
    assert run_ontology(output, *flags, "--verifier", "rules", "--describer", "template") == 0
    parts = pl.read_parquet(output / "ontology" / "parts.parquet")
    assert parts["embedding"].to_numpy().shape == (parts.height, 32)
    # bar_stretcher is the chair's only stretcher: the rules merge it with stretcher
    assert sorted(parts["name"]) == ["bar_stretcher", "chair_seat"]
    run = read_run(output)
    assert run["config"]["embedder"] == "mpnet" and run["config"]["embedding_dim"] == 32
    assert {"sentence-transformers", "torch"} <= set(run["versions"])
