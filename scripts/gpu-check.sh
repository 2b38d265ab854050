#!/usr/bin/env bash
# The GPU check, on a Linux machine with an NVIDIA GPU and a CUDA PyTorch installation, with
# or without Node.js. Prepare the folder first where Node.js is (scripts/gpu-prepare.sh makes
# .gpu/), bring the checkout and .gpu/ over, then run:   bash scripts/gpu-check.sh [REPORT_DIR]
# It builds the addon against the CUDA libtorch inside PyTorch (g++ directly, no node-gyp),
# runs the device tests and the device-neutral test subset on CUDA, benchmarks Sauron against
# PyTorch eager on the same GPU (fp32 and bf16), trains briefly on CUDA, and writes
# REPORT_DIR/report.md with the logs beside it. Each phase has its own time limit, so one that
# hangs cannot take the others with it.
set -uo pipefail
cd "$(dirname "$0")/.."
REPORT=${1:-${OUT:-gpu-report}}
mkdir -p "$REPORT"
REPORT=$(cd "$REPORT" && pwd)
PY=${PYTHON:-python3}
# A dry run elsewhere: GPU_CHECK_DEVICE=cpu GPU_CHECK_BUILD=0 PYTHON=/usr/bin/python3 (uses build/ as it is).
DEV=${GPU_CHECK_DEVICE:-cuda}
QUICK=${GPU_CHECK_QUICK:-0}  # 1: tiny benchmark and training sizes (dry runs)
md="$REPORT/report.md"
: > "$md"
say() { echo "$*" | tee -a "$md"; }
phase() { echo; say ""; say "## $1 ($(date +%T))"; }
t0=$(date +%s)

phase "Machine"
if [ -f .gpu/node.xz ]; then
  mkdir -p .gpu/bin
  xz -dc .gpu/node.xz > .gpu/bin/node && chmod +x .gpu/bin/node
  export PATH="$PWD/.gpu/bin:$PATH"
fi
command -v node >/dev/null || { say "no node: run scripts/gpu-prepare.sh where Node.js is and bring .gpu/ along"; exit 1; }
say "- node $(node --version), $(g++ --version | head -1)"
say "- $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
say "- PyTorch: $($PY -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -1)"
TORCH_DIR=$($PY -c 'import torch, os; print(os.path.dirname(torch.__file__))')

phase "Build"
export LIBTORCH="$TORCH_DIR" SAURON_BUILD=gxx SAURON_NODE_HEADERS="$PWD/.gpu/include" NODE_PATH="$PWD/.gpu/node_modules"
start=$(date +%s)
if [ "${GPU_CHECK_BUILD:-1}" = 0 ]; then
  say "- build skipped (GPU_CHECK_BUILD=0)"
elif ! timeout 300 node scripts/build-native.mjs > "$REPORT/build.log" 2>&1; then
  say "- building with c++17 failed; retrying with c++20 (tail of the log below)"
  tail -20 "$REPORT/build.log" | tee -a "$md"
  SAURON_CXX_STD=c++20 timeout 300 node scripts/build-native.mjs >> "$REPORT/build.log" 2>&1 || {
    say "- building with c++20 failed too; retrying with the collectives stubbed out (SAURON_NO_GLOO=1)"
    SAURON_NO_GLOO=1 timeout 300 node scripts/build-native.mjs >> "$REPORT/build.log" 2>&1 || { say "- build failed"; tail -40 "$REPORT/build.log" | tee -a "$md"; exit 1; }
  }
fi
say "- addon built against $TORCH_DIR in $(( $(date +%s) - start )) s"
export SAURON_ADDON="$PWD/build/Release/sauron_native.node"
# The compiled sources find the embedded data, fixtures and the CLI where they expect them.
ln -sfn ../../data .gpu/js/data
ln -sfn ../../fixtures .gpu/js/fixtures
ln -sfn ../../bin .gpu/js/bin
[ -e dist ] || ln -sfn .gpu/js/src dist
node -e "import('./.gpu/js/src/tensor/device.js').then((d) => console.log('- ' + JSON.stringify(d.buildInfo())))" 2>&1 | tee -a "$md"

run_tests() {  # label, env..., -- files...
  local label=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local log="$REPORT/tests-$label.log"
  start=$(date +%s)
  env "${envs[@]}" timeout "${TEST_TIMEOUT:-240}" node --test --test-concurrency=4 "$@" > "$log" 2>&1
  local rc=$?
  say "- $label: $(grep -E '^# (pass|fail|skipped)' "$log" | tr '\n' ' ')(exit $rc, $(( $(date +%s) - start )) s)"
  grep -E '^not ok' "$log" | head -20 | sed 's/^/  - /' | tee -a "$md"
}

phase "Tests on CUDA"
# GPU_CHECK_TESTS=0 skips the two test runs below (to leave the machine's time to other work)
[ "${GPU_CHECK_TESTS:-1}" = 0 ] && say "- skipped (GPU_CHECK_TESTS=0)"
if [ "${GPU_CHECK_TESTS:-1}" != 0 ]; then
  # Device plumbing: every tensor of a forward, attack and training step on cuda, the CPU as trap.
  run_tests device SAURON_TEST_DEVICE=$DEV SAURON_TF32=0 -- .gpu/js/test/unit/device.test.js
  # The device-neutral subset (tests that take their device from the library, not from CPU
  # fixtures) with CUDA as the default device, deterministic kernels, TF32 off.
  run_tests default-cuda SAURON_DEFAULT_DEVICE=$DEV SAURON_TEST_DEVICE=$DEV SAURON_TF32=0 SAURON_DETERMINISTIC=1 -- \
    .gpu/js/test/processes/train.test.js .gpu/js/test/reference/delta.test.js .gpu/js/test/reference/optim.test.js .gpu/js/test/unit/tensor.test.js
fi

# GPU_CHECK_ATTACKS=1: the attack tests too (early stop against the full protocol, batch independence)
if [ "${GPU_CHECK_ATTACKS:-0}" = 1 ]; then
  run_tests attacks-cuda SAURON_DEFAULT_DEVICE=$DEV SAURON_TEST_DEVICE=$DEV SAURON_TF32=0 SAURON_DETERMINISTIC=1 -- .gpu/js/test/unit/attacks.test.js
fi

# GPU_CHECK_PROTOCOL=1: the paper's PGD protocol, early stop against the full protocol and PyTorch's naive
# loop (bench/attacks/pgdProtocol.ts) on the default model that gpu-prepare.sh packed; PROTOCOL_ARGS adds options.
if [ "${GPU_CHECK_PROTOCOL:-0}" = 1 ]; then
  phase "PGD protocol on this GPU"
  start=$(date +%s)
  if [ -f .gpu/fm-standard/model.json ]; then
    # early stopping where the arithmetic may depend on the batch: the full protocol at two batch
    # sizes against the two restart queues (bench/attacks/earlyStopDevice.ts); EARLY_STOP_ARGS adds options
    # shellcheck disable=SC2086
    timeout "${PROTOCOL_TIMEOUT:-300}" node .gpu/js/bench/attacks/earlyStopDevice.js --device "$DEV" --model .gpu/fm-standard \
      --out "$REPORT/early-stop-device.md" ${EARLY_STOP_ARGS:-} > "$REPORT/early-stop-device.log" 2>&1
    say "- early stop on this device: exit $?, $(( $(date +%s) - start )) s"
    [ -f "$REPORT/early-stop-device.md" ] && tee -a "$md" < "$REPORT/early-stop-device.md" || tail -5 "$REPORT/early-stop-device.log" | tee -a "$md"
    start=$(date +%s)
    # shellcheck disable=SC2086
    SAURON_BENCHMARKS_FILE="$REPORT/protocol.md" timeout "${PROTOCOL_TIMEOUT:-300}" node .gpu/js/bench/attacks/pgdProtocol.js --device "$DEV" --python "$PY" \
      --model .gpu/fm-standard ${PROTOCOL_ARGS:-} > "$REPORT/protocol.log" 2>&1
    say "- exit $?, $(( $(date +%s) - start )) s"
    grep -E '^\| ' "$REPORT/protocol.log" | awk '!seen[$0]++' | tee -a "$md"
    grep -iE 'error|disagree' "$REPORT/protocol.log" | head -5 | tee -a "$md"
  else
    say "- no .gpu/fm-standard: train runs/fm-standard (scripts/setup.sh) and rerun scripts/gpu-prepare.sh"
  fi
fi

# GPU_CHECK_AUTOATTACK=1: AutoAttack standard against fra31/auto-attack's code (bench/autoattack/autoattack.ts)
# on the default model, when gpu-prepare.sh packed both (.gpu/fm-standard, .gpu/auto-attack)
if [ "${GPU_CHECK_AUTOATTACK:-0}" = 1 ]; then
  phase "AutoAttack against the reference on this GPU"
  start=$(date +%s)
  if [ -f .gpu/fm-standard/model.json ] && [ -d .gpu/auto-attack/autoattack ]; then
    SAURON_BENCHMARKS_FILE="$REPORT/autoattack.md" timeout "${AUTOATTACK_TIMEOUT:-300}" node .gpu/js/bench/autoattack/autoattack.js --device "$DEV" --nproc 1 \
      --python "$PY" --autoattack-dir .gpu/auto-attack --model .gpu/fm-standard > "$REPORT/autoattack.log" 2>&1
    say "- exit $?, $(( $(date +%s) - start )) s"
    grep -E '^\| ' "$REPORT/autoattack.log" | awk '!seen[$0]++' | tee -a "$md"
  else
    say "- no .gpu/fm-standard or .gpu/auto-attack: AUTOATTACK_DIR=... scripts/gpu-prepare.sh with runs/fm-standard trained"
  fi
fi

phase "Benchmarks against PyTorch on this GPU"
start=$(date +%s)
# GPU_CHECK_BENCH=0 / GPU_CHECK_TRAIN=0 skip a phase (to leave the machine's time to other work).
if [ "${GPU_CHECK_BENCH:-1}" = 0 ]; then
  say "- skipped (GPU_CHECK_BENCH=0)"
else
  timeout "${BENCH_TIMEOUT:-300}" node .gpu/js/bench/gpu/gpu.js --python "$PY" --device "$DEV" $([ "$QUICK" = 1 ] && echo --quick) \
    --out "$REPORT" > "$REPORT/bench.log" 2>&1
  say "- exit $?, $(( $(date +%s) - start )) s"
  [ -f "$REPORT/gpu-bench.md" ] && cat "$REPORT/gpu-bench.md" >> "$md" || tail -20 "$REPORT/bench.log" | tee -a "$md"
fi

phase "Short training on CUDA (embedded Fashion-MNIST)"
[ "${GPU_CHECK_TRAIN:-1}" = 0 ] && say "- skipped (GPU_CHECK_TRAIN=0)"
for p in $([ "${GPU_CHECK_TRAIN:-1}" = 0 ] || echo fp32 bf16); do
  start=$(date +%s)
  timeout "${TRAIN_TIMEOUT:-120}" node .gpu/js/src/cli/main.js train --device "$DEV" --precision "$p" --epochs 2 \
    $([ "$QUICK" = 1 ] && echo --limit 512 --test-limit 256 --val-limit 32) --out "$REPORT/train-$p" --force > "$REPORT/train-$p.log" 2>&1
  rc=$?
  say "- $p: exit $rc, $(( $(date +%s) - start )) s: $(tail -1 "$REPORT/train-$p.log")"
  rm -rf "$REPORT/train-$p/checkpoint"
done

say ""
say "Total $(( $(date +%s) - t0 )) s."

# GPU_CHECK_PACK=1: everything but report.md and the benchmark figures in one archive (for
# transports that bring back only a few files).
if [ "${GPU_CHECK_PACK:-0}" = 1 ]; then
  tmp=$(mktemp -d)
  (cd "$REPORT" && tar czf "$tmp/logs.tgz" --exclude=report.md --exclude=gpu-bench.json --exclude=gpu-bench.md . \
    && find . -mindepth 1 ! -name report.md ! -name gpu-bench.json ! -name gpu-bench.md -delete && mv "$tmp/logs.tgz" .)
fi
