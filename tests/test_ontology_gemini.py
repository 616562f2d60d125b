"""The Gemini path: the real google-genai client against a fake server on 127.0.0.1."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from ontology.describe import GeminiDescriber
from ontology.gemini import CallBudget, GeminiSettings
from ontology.verdicts import KEEP_SEPARATE, MERGE, UNVERIFIED, Candidate
from ontology.verify import GeminiVerifier
from tests.ontology_fake_gemini import FakeGemini
from tests.ontology_helpers import part, read_log, read_run, run_ontology

SECRET = "AIzaFAKE-test-key-0123456789-do-not-leak"

CANDIDATES = [
    Candidate.of(part("bar_stretcher"), part("stretcher", dataset="3dcompat"), 0.83),
    Candidate.of(part("back_support"), part("support", dataset="3dcompat"), 0.84),
    Candidate.of(part("seat_cushion"), part("cushion", dataset="3dcompat"), 0.85),
    Candidate.of(part("arm"), part("armrest", dataset="3dcompat"), 0.86),
    Candidate.of(part("back"), part("backrest", dataset="3dcompat"), 0.87),
]


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


def _settings(url: str, **changes: object) -> GeminiSettings:
    fast = {"timeout_s": 1.0, "http_attempts": 4, "initial_delay_s": 0.01, "max_delay_s": 0.05}
    return GeminiSettings(base_url=url, batch_size=3, workers=1, **{**fast, **changes})


def _files_text(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_faults_end_in_verdicts_and_the_cache_makes_a_rerun_free(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cache = str(tmp_path / "cache")
    with FakeGemini(["429", "500", "malformed", "slow", "partial"], slow_s=1.5) as fake:
        budget = CallBudget(None)
        verdicts = GeminiVerifier(_settings(fake.url), cache).verify(CANDIDATES, budget)
        requests = fake.requests
    assert [v.decision for v in verdicts] == [MERGE, MERGE, MERGE, KEEP_SEPARATE, KEEP_SEPARATE]
    assert verdicts[0].canonical == "bar_stretcher" and verdicts[3].canonical is None
    assert {(v.verifier, v.model) for v in verdicts} == {("gemini", "gemini-2.5-flash")}
    assert all(len(v.prompt_sha256) == 64 for v in verdicts)
    # batch 1: 429, 500 (retried), malformed; slow (timed out, retried), partial; ok;
    # batch 2: ok. Every HTTP request sent is one call of the budget.
    assert (len(requests), budget.used) == (7, 7)
    assert {r["path"] for r in requests} == {"/v1beta/models/gemini-2.5-flash:generateContent"}
    assert {r["headers"]["x-goog-api-key"] for r in requests} == {SECRET}

    with FakeGemini() as fake:
        budget = CallBudget(None)
        again = GeminiVerifier(_settings(fake.url), cache).verify(CANDIDATES, budget)
        assert (fake.requests, budget.used) == ([], 0)
    assert again == verdicts
    assert SECRET not in caplog.text
    assert SECRET not in _files_text(tmp_path)


def test_replies_that_never_parse_end_unverified_and_are_not_cached(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    with FakeGemini(always="malformed") as fake:
        budget = CallBudget(None)
        verdicts = GeminiVerifier(_settings(fake.url, reply_attempts=2), cache).verify(
            CANDIDATES, budget
        )
    assert [v.decision for v in verdicts] == [UNVERIFIED] * len(CANDIDATES)
    assert "did not parse" in verdicts[0].rationale
    assert budget.used == 4  # two batches, two tries each
    with FakeGemini() as fake:
        GeminiVerifier(_settings(fake.url), cache).verify(CANDIDATES, CallBudget(None))
        assert len(fake.requests) == 2


def test_server_errors_after_retries_and_the_budget_leave_pairs_unverified(
    tmp_path: Path,
) -> None:
    with FakeGemini(always="500") as fake:
        verdicts = GeminiVerifier(_settings(fake.url, http_attempts=2), str(tmp_path)).verify(
            CANDIDATES[:2], CallBudget(None)
        )
        assert len(fake.requests) == 2
    assert {v.decision for v in verdicts} == {UNVERIFIED}
    assert verdicts[0].rationale.startswith("Gemini request failed: ServerError: 500")

    with FakeGemini() as fake:
        budget = CallBudget(1)
        verdicts = GeminiVerifier(_settings(fake.url), str(tmp_path)).verify(CANDIDATES, budget)
    assert [v.decision for v in verdicts[3:]] == [UNVERIFIED, UNVERIFIED]
    assert "budget" in verdicts[3].rationale and budget.used == 1


def test_retries_are_calls_of_the_budget(tmp_path: Path) -> None:
    with FakeGemini(always="500") as fake:
        budget = CallBudget(3)
        verdicts = GeminiVerifier(_settings(fake.url), str(tmp_path)).verify(CANDIDATES, budget)
        sent = len(fake.requests)
    assert (sent, budget.used) == (3, 3)  # 4 tries per request allowed; the budget is 3
    assert {v.decision for v in verdicts} == {UNVERIFIED}
    assert "500" in verdicts[0].rationale and "budget" in verdicts[0].rationale
    assert verdicts[3].rationale.endswith("LLM call budget (--max-llm-calls) exhausted")


def test_descriptions_fall_back_to_the_template_when_gemini_fails(tmp_path: Path) -> None:
    names = [candidate.a for candidate in CANDIDATES]
    with FakeGemini() as fake:
        described = GeminiDescriber(_settings(fake.url), str(tmp_path)).describe(
            names, CallBudget(None)
        )
    assert {e.description_source for e in described} == {"gemini"}
    assert described[0].description.startswith('fake description of part "bar stretcher"')
    with FakeGemini(always="500") as fake:
        described = GeminiDescriber(_settings(fake.url, http_attempts=1), str(tmp_path / "b"))
        described = described.describe(names, CallBudget(None))
    assert {e.description_source for e in described} == {"template"}
    assert described[0].description == "the bar stretcher of a chair"


def test_pipeline_with_gemini(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    csv = tmp_path / "names.csv"
    csv.write_text(
        "dataset,category,part\n"
        "partnet,Chair,swivel_wheel\npartnet,Chair,back\npartnet,Chair,seat\n"
        "3dcompat,chair,caster_wheel\n3dcompat,chair,headrest\n3dcompat,chair,chair_seat\n"
    )
    output = tmp_path / "out"

    def run(fake: FakeGemini) -> int:
        return run_ontology(
            output,
            *("--vocab", f"generic={csv}", "--embedder", "lexical", "--threshold", "0.05"),
            *("--describer", "gemini", "--verifier", "gemini", "--gemini-base-url", fake.url),
            *("--llm-workers", "1", "--gemini-timeout", "5"),
        )

    with FakeGemini(["429"]) as fake:
        assert run(fake) == 0
        first_requests = len(fake.requests)
    parts = pl.read_parquet(output / "ontology" / "parts.parquet")
    assert set(parts["description_source"]) == {"gemini"}
    # the rules leave swivel/caster wheel and back/headrest open: Gemini decides them
    assert sorted(parts["name"]) == ["back", "caster_wheel", "chair_seat", "headrest"]
    log = {(r["alias"], r["canonical"], r["decision"]): r for r in read_log(output)}
    merged = log["swivel_wheel", "caster_wheel", "merge"]
    assert merged["verifier"] == "gemini" and merged["model"] == "gemini-2.5-flash"
    assert len(merged["prompt_sha256"]) == 64
    assert log["back", "headrest", "keep_separate"]["rationale"] == "different head words"
    assert log["seat", "chair_seat", "merge"]["verifier"] == "rules"
    assert read_run(output)["counts"]["llm_calls"] == first_requests  # the 429's retry counts

    with FakeGemini() as fake:
        assert run(fake) == 0
        assert fake.requests == []
    assert read_run(output)["counts"]["llm_calls"] == 0
    assert pl.read_parquet(output / "ontology" / "parts.parquet").equals(parts)
    assert SECRET not in _files_text(output)
    assert SECRET not in caplog.text + "".join(capsys.readouterr())


def test_verdict_prompts_carry_paths_siblings_datasets_and_descriptions(tmp_path: Path) -> None:
    tube = part("tube", "faucet", path="faucet/normal_faucet/spout/tube")
    tube = replace(tube, alternates=("spout",), siblings=("aerator",))
    lever = part("faucet_lever", "faucet", dataset="3dcompat", path="faucet/body/faucet_lever")
    with FakeGemini() as fake:
        verifier = GeminiVerifier(_settings(fake.url), str(tmp_path / "cache"))
        (verdict,) = verifier.verify([Candidate.of(tube, lever, 0.5)], CallBudget(None))
        (request,) = fake.requests
    prompt = request["body"]["contents"][0]["parts"][0]["text"]
    assert "hierarchy: faucet/normal_faucet/spout/tube" in prompt
    assert "hierarchy: faucet/body/faucet_lever" in prompt
    assert "datasets: partnet/faucet" in prompt and "datasets: 3dcompat/faucet" in prompt
    assert "siblings: aerator" in prompt and "only child of: spout" in prompt
    assert "the tube of a faucet" in prompt  # the description
    assert "parts of a faucet" in prompt
    # the parser read the fake's verdict on the pair that carried that context
    assert (verdict.decision, verdict.rationale) == (KEEP_SEPARATE, "different head words")


def test_the_run_budget_bounds_the_requests_sent_retries_included(tmp_path: Path) -> None:
    csv = tmp_path / "names.csv"
    names = ("arm", "armrest", "back", "backrest", "seat", "chair_seat", "leg", "chair_leg")
    csv.write_text("dataset,category,part\n" + "".join(f"web,chair,{n}\n" for n in names))
    output = tmp_path / "out"
    with FakeGemini(["429", "500", "429"]) as fake:
        code = run_ontology(
            output,
            *("--vocab", f"generic={csv}", "--embedder", "lexical", "--threshold", "0.3"),
            *("--describer", "gemini", "--verifier", "gemini", "--gemini-base-url", fake.url),
            *("--llm-workers", "1", "--llm-batch-size", "2", "--gemini-attempts", "2"),
            *("--max-llm-calls", "4"),
        )
        sent = len(fake.requests)
        left = fake.faults
    assert code == 0 and left == []  # every fault was served: retries happened
    assert sent == 4 == read_run(output)["counts"]["llm_calls"]
    parts = pl.read_parquet(output / "ontology" / "parts.parquet")
    assert "template" in set(parts["description_source"])  # what the budget did not cover
