#!/usr/bin/env bash
# Installs the system packages Soma needs, when they are missing (Debian/Ubuntu):
# OpenBLAS (CBLAS for GEMM), LIBXSMM (JIT-compiled small GEMMs for direct convolutions),
# protobuf-c (GraphDef serialisation; the compiler only to regenerate the committed C code),
# Graphviz (`graphtool draw` renders SVG and PNG with its `dot`) and Open MPI
# (SomaDistributed's collectives; `mpirun` starts the ranks).
set -euo pipefail
packages=(libopenblas-dev libxsmm-dev libprotobuf-c-dev protobuf-c-compiler graphviz libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
