#!/usr/bin/env bash
# Sets up Sauron on a Debian/Ubuntu machine: system packages (libtorch, build tools), then
# `npm ci`, which builds the libtorch addon and compiles the TypeScript.
# Set LIBTORCH=/path/to/libtorch to build against another libtorch instead of Debian's.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
if [ -z "${LIBTORCH:-}" ]; then
  dpkg -s libtorch-dev >/dev/null 2>&1 || need+=(libtorch-dev)
  # gloo's headers, which libtorch's c10d headers include; libtorch already links libgloo
  dpkg -s libgloo-dev >/dev/null 2>&1 || need+=(libgloo-dev)
  # BLIS: the addon links it so that libtorch's matrix products use it instead of the reference
  # BLAS Debian's libtorch otherwise gets (about 2x faster attack steps for the small CNN, and
  # batch-independent results; docs/performance.md, "BLAS")
  dpkg -s libblis4-openmp >/dev/null 2>&1 || need+=(libblis4-openmp)
  # oneDNN's headers: the addon runs convolution stacks in the oneDNN that libtorch links
  # (native/convStack.cc; docs/performance.md, "Convolution stacks")
  dpkg -s libdnnl-dev >/dev/null 2>&1 || need+=(libdnnl-dev)
fi
# Figures render text with the DejaVu fonts.
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need+=(fonts-dejavu-core)
for p in g++ make python3; do
  command -v "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "sauron setup: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

npm ci
