#!/usr/bin/env bash
# Prepares .gpu/ on a machine with Node.js for scripts/gpu-check.sh, which runs on a Linux
# machine with an NVIDIA GPU and a PyTorch installation but possibly no Node.js: a compressed
# copy of this machine's node, the four N-API headers the addon needs, the TypeScript compiled
# to JavaScript (src, test, bench), and the two runtime packages the check uses. The figure
# and image packages (vega, vega-lite, sharp: tens of MB with libvips) are replaced by stubs
# that throw when used; nothing the check runs draws a figure.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu
mkdir -p .gpu/include .gpu/node_modules
xz -T0 -6 -c "$(command -v node)" > .gpu/node.xz
for h in node_api.h node_api_types.h js_native_api.h js_native_api_types.h; do
  cp "${NODE_INCLUDE:-/usr/include/node}/$h" .gpu/include/
done
npx tsc -p tsconfig.json --outDir .gpu/js --sourceMap false --declaration false
# the PyTorch twins beside their compiled benchmarks (bench/TOPIC/*.py; bench/shared/torch_models.py)
for f in bench/*/*.py; do mkdir -p ".gpu/js/${f%/*}" && cp "$f" ".gpu/js/$f"; done
# the default model, for the PGD-protocol benchmark (GPU_CHECK_PROTOCOL=1)
if [ -f runs/fm-standard/model.safetensors ]; then
  mkdir -p .gpu/fm-standard && cp runs/fm-standard/model.json runs/fm-standard/model.safetensors .gpu/fm-standard/
fi
cp -r node_modules/commander node_modules/node-addon-api node_modules/zod node_modules/marked .gpu/node_modules/
# fra31/auto-attack's code, for the AutoAttack benchmark (GPU_CHECK_AUTOATTACK=1): not vendored,
# taken from a checkout named by AUTOATTACK_DIR when there is one
if [ -n "${AUTOATTACK_DIR:-}" ] && [ -f "$AUTOATTACK_DIR/autoattack/autoattack.py" ]; then
  mkdir -p .gpu/auto-attack && cp -r "$AUTOATTACK_DIR/autoattack" .gpu/auto-attack/
fi
stub() {  # name, module body
  mkdir -p ".gpu/node_modules/$1"
  printf '{ "name": "%s", "version": "0.0.0-stub", "type": "module", "main": "index.js" }\n' "$1" > ".gpu/node_modules/$1/package.json"
  printf '%s\n' "$2" > ".gpu/node_modules/$1/index.js"
}
stub sharp "export default function sharp() { throw new Error('sharp is stubbed out in the GPU check'); }"
stub vega "export class View { constructor() { throw new Error('vega is stubbed out in the GPU check'); } }
export function parse() { throw new Error('vega is stubbed out in the GPU check'); }"
stub vega-lite "export function compile() { throw new Error('vega-lite is stubbed out in the GPU check'); }"
du -sh .gpu
