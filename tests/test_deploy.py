"""deploy/: the image's Dockerfile, its pinned Python layer, the template launcher and the
nightly schedule, checked as far as they can be without Google Cloud."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import apache_beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.features import config_from_options
from pipelines.options import FeaturesOptions
from pipelines.registry import beam_option_parser

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def instructions(keyword: str) -> list[str]:
    """Arguments of the Dockerfile's ``keyword`` instructions (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [
        line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(keyword + " ")
    ]


def pins(name: str) -> dict[str, str]:
    lines = (DEPLOY / name).read_text().splitlines()
    pairs = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {package.lower(): version for package, version in pairs}


def scale_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("### Running at scale", 1)[1].split("\n## ", 1)[0]


def test_from_images_are_the_documented_ones_and_beam_matches_its_pin():
    images = [line.split()[0] for line in instructions("FROM")]
    beam_version = pins("requirements.txt")["apache-beam"]
    assert images == [
        f"apache/beam_python3.11_sdk:{beam_version}",
        "gcr.io/dataflow-templates-base/python311-template-launcher-base:latest",
        "nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04",
    ]
    assert beam_version == apache_beam.__version__  # the version the tests ran with
    section = scale_section()
    for image in images:
        assert image.split(":")[0] in section, f"{image} is not documented in README"
    assert "python3.11 " in DOCKERFILE  # the interpreter of the SDK image above


def test_boot_launcher_and_copied_paths():
    copies = instructions("COPY")
    assert "--from=beam /opt/apache/beam /opt/apache/beam" in copies
    assert any(
        c.startswith("--from=launcher /opt/google/dataflow/python_template_launcher")
        for c in copies
    )
    assert instructions("ENTRYPOINT") == ['["/opt/apache/beam/boot"]']
    env = " ".join(instructions("ENV"))
    capabilities = re.search(r"NVIDIA_DRIVER_CAPABILITIES=(\S+)", env).group(1).split(",")
    assert "graphics" in capabilities and "compute" in capabilities
    py_file = re.search(r"FLEX_TEMPLATE_PYTHON_PY_FILE=(\S+)", env).group(1)
    destinations = {}
    for copy in copies:
        if copy.startswith("--from="):
            continue
        *sources, destination = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            destinations[
                str(Path(destination) / Path(source).name)
                if destination.endswith("/")
                else destination
            ] = source
    assert destinations[py_file] == "deploy/launch.py"


@pytest.mark.hadolint
def test_the_dockerfile_passes_hadolint():
    """Where hadolint is installed (``pytest -m hadolint``; .ci/run runs it when it is)."""
    subprocess.run([shutil.which("hadolint") or "hadolint", str(DEPLOY / "Dockerfile")], check=True)


def load_launch():
    spec = importlib.util.spec_from_file_location("partbank_launch", DEPLOY / "launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_template_file_runs_its_pipeline_on_dataflow_by_default():
    launch = load_launch()
    argv = launch.launcher_argv("ontology", ["--output=gs://b/o", "--vocab=partnet"])
    assert argv == [
        "--pipeline",
        "ontology",
        "--output=gs://b/o",
        "--vocab=partnet",
        "--runner=DataflowRunner",
    ]
    assert launch.launcher_argv("features", ["--runner=FnApiRunner"])[-1] == "--runner=FnApiRunner"


def schedule_body() -> dict:
    printed = subprocess.run(
        ["bash", str(DEPLOY / "deploy.sh"), "body"], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(printed)


def test_the_nightly_launch_passes_real_options_that_validate():
    body = schedule_body()["launchParameter"]
    metadata = json.loads((DEPLOY / "features" / "metadata.json").read_text())
    declared = {p["name"]: p for p in metadata["parameters"]}
    parameters = body["parameters"]
    for name, value in parameters.items():
        if name in declared:
            for regex in declared[name].get("regexes", []):
                assert re.fullmatch(regex, value), (name, value)
    args = [f"--{name}={value}" for name, value in parameters.items()]
    known, unknown = beam_option_parser(FeaturesOptions).parse_known_args(args)
    assert unknown == []
    assert known.sdk_container_image == parameters["sdk_container_image"]
    # Options that cannot run raise here; --ontology is left out: validating it reads the
    # (here nonexistent) bucket.
    offline = [arg for arg in args if not arg.startswith("--ontology=")]
    config = config_from_options(PipelineOptions(offline))
    assert sorted(config.featurizers) == ["dinov2", "partfield", "rgb"]
    assert config.model_accelerator.endswith("machine_type:g2-standard-8;install-nvidia-driver")
    assert body["containerSpecGcsPath"].endswith("/partbank-features.json")


def test_every_setting_comes_from_config_env():
    defined = set(re.findall(r"^([A-Z_]+)=", (DEPLOY / "config.env").read_text(), re.M))
    used = set(re.findall(r"\$\{?([A-Z_]+)", (DEPLOY / "launch-body.json").read_text()))
    used |= set(re.findall(r"\$\{?([A-Z_]+)", (DEPLOY / "deploy.sh").read_text()))
    assert used <= defined, used - defined
    subprocess.run(["bash", "-n", str(DEPLOY / "deploy.sh")], check=True)


@pytest.mark.image_layer
def test_the_image_python_layer_installs_from_its_pins(tmp_path):
    """The Dockerfile's pip steps in a fresh venv: the pins, then partbank without deps; then
    the template command runs from it. The image's CUDA torch and GPU packages
    (requirements-gpu.txt) are left out: CPU torch of the same version stands in."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    cpu_index = ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]
    torch = f"torch=={pins('requirements.txt')['torch']}+cpu"
    subprocess.run([*pip, "--no-deps", torch, *cpu_index], check=True)
    subprocess.run([*pip, "-r", str(DEPLOY / "requirements.txt")], check=True)
    subprocess.run([*pip, "--no-deps", str(ROOT)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "check"], check=True)
    imports = (
        "import apache_beam.io.gcp.gcsio, apache_beam.runners.dataflow.dataflow_runner, "
        "pipelines.features, pipelines.ontology, featurizers.dinov2, featurizers.partfield"
    )
    subprocess.run([python, "-c", imports], check=True, cwd=tmp_path)
    printed = subprocess.run(
        [python, str(ROOT / "beam_runner.py"), "--pipeline", "features", "--template-metadata"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout  # fmt: skip
    assert printed == (DEPLOY / "features" / "metadata.json").read_text()
