#!/usr/bin/env bash
# Fill .gpu-carry/ (git-ignored) with what benchmarks/gpu_check.sh needs on the GPU machine,
# which reaches no network: run it here, on a Linux x86_64 machine with network access, pip,
# apt-get (Debian/Ubuntu), Mesa llvmpipe and this repository's dev install, right before the
# device call. It writes
#   .gpu-carry/site.tar.xz          the Python packages the GPU machine lacks, for its
#                                   Python 3.12 (cp312 manylinux x86_64 wheels, unpacked,
#                                   native libraries stripped, packed with xz);
#   .gpu-carry/gl/*.deb             the glvnd GL loaders (libEGL.so.1, libGL.so.1 ...);
#   .gpu-carry/llvmpipe_renders.npz the llvmpipe reference of the NVIDIA EGL test;
# and checks that the working tree plus .gpu-carry fit the device tool's 64 MiB.
# Versions are the ones installed here (the tested set); NVIDIA DALI is left out (its wheel
# alone is far over the limit), so the GPU run uses the torch-ops preprocessing.
#
#     bash benchmarks/gpu_prepare.sh
#     then: run(command="bash benchmarks/gpu_check.sh", carry=[".gpu-carry"], timeout_s=480)
set -euo pipefail
cd "$(dirname "$0")/.."

CARRY=.gpu-carry
LIMIT_BYTES=$((64 * 1024 * 1024))
# Not on the GPU machine (device README's package list): the pipeline's own needs and theirs.
PACKAGES=(
    apache-beam fastavro cryptography cffi pycparser zstandard beartype pymongo dnspython pytz
    httplib2 jsonpickle objsize fasteners proto-plus protobuf
    trimesh rtree moderngl glcontext polars polars-runtime-32
)
GL_PACKAGES=(libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$CARRY/gl" "$stage/wheels" "$stage/site"

# --- Python packages: the versions installed here, as wheels for CPython 3.12 -------------
mapfile -t specs < <(python3 - "${PACKAGES[@]}" <<'EOF'
import importlib.metadata as m
import sys

for name in sys.argv[1:]:
    try:
        print(f"{name}=={m.version(name)}")
    except m.PackageNotFoundError:
        print(name)
EOF
)
echo "downloading ${#specs[@]} wheels: ${specs[*]}"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d "$stage/wheels" "${specs[@]}"
python3 - "$stage/wheels" "$stage/site" <<'EOF'
import sys
import zipfile
from pathlib import Path

wheels, site = Path(sys.argv[1]), Path(sys.argv[2])
for wheel in sorted(wheels.glob("*.whl")):
    print(f"  {wheel.stat().st_size / 2**20:6.1f} MiB  {wheel.name}")
    zipfile.ZipFile(wheel).extractall(site)
EOF
echo "wheels: $(du -sh "$stage/wheels" | cut -f1), unpacked: $(du -sh "$stage/site" | cut -f1)"
if command -v strip >/dev/null; then
    find "$stage/site" -name '*.so*' -type f -exec strip --strip-unneeded {} +
    echo "stripped native libraries: $(du -sh "$stage/site" | cut -f1)"
fi
tar -C "$stage/site" -cf - . | xz -6 -T0 >"$CARRY/site.tar.xz"

# --- GL loaders (the device README's recipe) ---------------------------------------------
if command -v apt-get >/dev/null; then
    lists=$stage/apt-lists
    mkdir -p "$lists/partial"
    apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists"
        -oAPT::Sandbox::User=root)
    apt-get "${apt[@]}" update -qq
    rm -f "$CARRY"/gl/*.deb
    (cd "$CARRY/gl" && apt-get "${apt[@]}" download -qq "${GL_PACKAGES[@]}")
else
    echo "no apt-get: $CARRY/gl not filled (the GPU machine must have libEGL.so.1, libGL.so.1)"
fi

# --- the llvmpipe side of the EGL test ---------------------------------------------------
python3 benchmarks/llvmpipe_reference.py "$CARRY/llvmpipe_renders.npz"

# --- does it travel? ---------------------------------------------------------------------
carry_bytes=$(du -sb "$CARRY" | cut -f1)
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null |
    tail -1 | cut -f1)
total=$((carry_bytes + tree_bytes))
mib() { echo "$(($1 / 1024 / 1024)).$(($1 * 10 / 1024 / 1024 % 10)) MiB"; }
du -sh "$CARRY"/* | sed 's/^/  /'
echo "carried $(mib "$carry_bytes") + working tree $(mib "$tree_bytes") = $(mib "$total")" \
    "of the device tool's 64 MiB"
if [ "$total" -gt "$LIMIT_BYTES" ]; then
    echo "gpu_prepare: over the 64 MiB limit: drop a package from PACKAGES" >&2
    exit 1
fi
echo 'ready: run(command="bash benchmarks/gpu_check.sh", carry=[".gpu-carry"], timeout_s=480)'
