#!/usr/bin/env bash
# partbank's GPU check: one prepared run on a machine with one NVIDIA GPU, under 8 minutes,
# ending in ONE Markdown table (also written to $OUT/gpu_table.md when OUT is set):
#   * the CUDA tests (tests/test_cuda.py, marked `cuda`, run as `pytest -m cuda`);
#   * benchmarks/dinov2_lift.py on the GPU: render ms/view (EGL on the NVIDIA driver),
#     DINOv2-B 12 x 448 views/s (random weights), lift ms/shape, peak GPU memory;
#   * benchmarks/partfield_forward.py on the GPU: shapes/s at batch 1/4/16 in fp32 and under
#     fp16 autocast, and the fp16-vs-fp32 max abs difference;
#   * the features pipeline end to end (rgb,dinov2,partfield --models random-init) on 64
#     generated PartNet-format shapes, in shapes/s.
# Each part has a time limit; a part whose package is missing gets one "skipped: X not
# installed" row, a part that fails or times out one row saying so. Without a CUDA device it
# prints "no CUDA device", the table with every part marked not run, and exits 0.
#
# What the GPU machine lacks, and how it travels (device README: torch with CUDA,
# transformers, pyarrow, numpy, scipy, pillow, grpcio, protobuf, pytest are there; nothing
# can be downloaded there):
#   * Python packages: apache-beam, trimesh, moderngl (+glcontext), polars
#     (+polars-runtime-32) and their missing dependencies (fastavro, cryptography, cffi,
#     pycparser, zstandard, beartype, pymongo, dnspython, pytz, httplib2, jsonpickle,
#     objsize, fasteners, proto-plus, rtree; protobuf too, so that Beam gets the major
#     version it was built for): cp312 manylinux x86_64 wheels of the versions installed on
#     the dev machine (~90 MiB, over the 64 MiB carry limit), unpacked, native libraries
#     stripped, packed into .gpu-carry/site.tar.xz (~41 MiB); this script unpacks it into
#     /tmp/partbank-site and puts that first on PYTHONPATH.
#   * NVIDIA DALI is NOT carried (its wheel is 425 MB): DINOv2 preprocessing runs as torch
#     ops there and the DALI test reports "skipped: nvidia.dali not installed".
#   * the GL loaders (libEGL.so.1, libGL.so.1 of glvnd) as Debian packages in .gpu-carry/gl/,
#     unpacked into / only when the machine lacks them;
#   * .gpu-carry/llvmpipe_renders.npz: the llvmpipe side of the EGL test, rendered here.
# Prepare all of it on a machine with network access and Mesa (this repository's dev
# machine), right before the GPU call:
#     bash benchmarks/gpu_prepare.sh
# then run, in one call of the device tool:
#     run(command="bash benchmarks/gpu_check.sh", carry=[".gpu-carry"], timeout_s=480)
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
CARRY=${PARTBANK_GPU_CARRY:-.gpu-carry}
WORK=$(mktemp -d)
ROWS=$WORK/rows.tsv
JUNIT=$WORK/cuda.xml
REPORT=${OUT:-$WORK}
PARTS=("cuda tests" "dinov2_lift" "partfield_forward" "features pipeline")
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
touch "$ROWS"

CUDA_PROBE='import torch; assert torch.cuda.is_available(); print(torch.cuda.get_device_name())'
VERSIONS='
import importlib.metadata as m

def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None

for label, names in (("apache-beam", ["apache-beam"]), ("trimesh", ["trimesh"]),
                     ("moderngl", ["moderngl"]), ("polars", ["polars"]),
                     ("nvidia-dali", ["nvidia-dali-cuda130", "nvidia-dali-cuda120"])):
    found = [f"{version(n)}" + ("" if n == label else f" ({n})") for n in names if version(n)]
    print(label, found[0] if found else "not installed", sep="\t")
'

row() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$ROWS"; }

print_table() {
    echo
    echo "## partbank GPU check ($(date -u '+%Y-%m-%d %H:%M UTC'), ${SECONDS} s)"
    "$PY" benchmarks/gpu_table.py "$ROWS" --junit "$JUNIT" | tee "$REPORT/gpu_table.md"
}

# The GL loaders, the NVIDIA EGL vendor and the carried Python packages.
set_up() {
    local libraries site=/tmp/partbank-site
    libraries=$(ldconfig -p)
    if [ -d "$CARRY/gl" ] && ! { grep -q 'libEGL\.so\.1 ' <<<"$libraries" &&
        grep -q 'libGL\.so\.1 ' <<<"$libraries"; }; then
        for deb in "$CARRY"/gl/*.deb; do dpkg -x "$deb" /; done
        ldconfig
        row "setup" "GL loaders" "unpacked from $CARRY/gl"
    fi
    local nvidia_egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -f "$nvidia_egl" ]; then
        export __EGL_VENDOR_LIBRARY_FILENAMES=$nvidia_egl
    fi
    if [ -f "$CARRY/site.tar.xz" ]; then
        rm -rf "$site" && mkdir -p "$site"
        "$PY" -c 'import sys, tarfile
tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="data")' "$CARRY/site.tar.xz" "$site"
        export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
        row "setup" "carried packages" "unpacked into $site"
    else
        row "setup" "carried packages" \
            "none ($CARRY/site.tar.xz missing: run benchmarks/gpu_prepare.sh)"
    fi
    "$PY" -c "$VERSIONS" | while IFS=$'\t' read -r name version; do
        row "package" "$name" "$version"
    done
}

missing() {  # the first of the given modules that does not import, or nothing
    for module in "$@"; do
        "$PY" -c "import $module" 2>/dev/null || { echo "$module"; return; }
    done
}

# part NAME LIMIT_S "MODULES" COMMAND...: run COMMAND within LIMIT_S seconds, or skip it.
part() {
    local name=$1 limit=$2 modules=$3 lack rc start=$SECONDS
    shift 3
    lack=$(missing $modules)
    if [ -n "$lack" ]; then
        row "$name" "-" "skipped: $lack not installed"
        echo "=== $name: skipped: $lack not installed"
        return
    fi
    echo "=== $name (limit ${limit} s): $*"
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$WORK/part.log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        row "$name" "-" "timed out after ${limit} s"
    elif [ "$rc" -ne 0 ] && ! { [ "$name" = "cuda tests" ] && [ "$rc" -eq 1 ]; }; then
        row "$name" "-" \
            "failed (exit $rc): $(grep -v '^\s*$' "$WORK/part.log" | tail -1 | cut -c1-160)"
    fi
    row "$name" "wall s" "$((SECONDS - start))"
}

main() {
    local gpu driver
    if ! gpu=$("$PY" -c "$CUDA_PROBE" 2>/dev/null); then
        echo "gpu_check: no CUDA device (torch.cuda.is_available() is false): nothing run"
        for name in "${PARTS[@]}"; do row "$name" "-" "not run: no CUDA device"; done
        print_table
        return 0
    fi
    driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
    row "machine" "GPU" "$gpu (driver ${driver:-?})"
    row "machine" "python / torch" \
        "$("$PY" -c 'import sys, torch; print(sys.version.split()[0], "/", torch.__version__)')"
    set_up
    # the parts' limits add up to 6.25 minutes
    part "cuda tests" 90 "pytest" \
        "$PY" -m pytest -p no:cacheprovider -q -rA -m cuda --junitxml="$JUNIT" tests/test_cuda.py
    part "dinov2_lift" 75 "trimesh moderngl apache_beam polars" \
        "$PY" benchmarks/dinov2_lift.py --no-cpu --gpu-shapes 64 --rows "$ROWS"
    part "partfield_forward" 60 "trimesh" \
        "$PY" benchmarks/partfield_forward.py --no-cpu --rows "$ROWS"
    part "features pipeline" 150 "apache_beam trimesh moderngl polars" \
        "$PY" benchmarks/features_sampling.py --shapes 64 --no-stages --rows "$ROWS" -- \
        --featurizers rgb,dinov2,partfield --models random-init --device cuda
    print_table
}

if [ -n "${OUT:-}" ]; then  # the device tool brings $OUT back: keep the whole log there
    main 2>&1 | tee "$OUT/gpu_check.log"
else
    main
fi
