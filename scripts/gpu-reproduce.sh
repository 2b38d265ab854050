#!/usr/bin/env bash
# The Fashion-MNIST reproduction's compute on a GPU machine, after scripts/gpu-check.sh built the
# addon there:   bash scripts/gpu-reproduce.sh REPRO_DIR [ARCHIVE]
# Trains the four models in parallel processes (one GPU, host-bound steps), then each model's
# sensitivity, attacks and budget sweep in parallel, and packs REPRO_DIR into ARCHIVE (.tgz).
# Figures and the report need the figure packages the GPU bundle stubs out: unpack the archive
# where Sauron is installed and run `sauron reproduce --out REPRO_DIR` to finish (pruning, report).
# Steps cut off by a time limit resume there too.
# TRAIN_TIMEOUT / ANALYSIS_TIMEOUT bound the two phases; whatever is unfinished resumes there.
set -uo pipefail
cd "$(dirname "$0")/.."
R=${1:?usage: gpu-reproduce.sh REPRO_DIR [ARCHIVE]}
ARCHIVE=${2:-}
export PATH="$PWD/.gpu/bin:$PATH" NODE_PATH="$PWD/.gpu/node_modules" SAURON_ADDON="${SAURON_ADDON:-$PWD/build/Release/sauron_native.node}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-3}
mkdir -p "$R/logs"
# the compiled sources find the embedded data where they expect it (as in gpu-check.sh)
ln -sfn ../../data .gpu/js/data
# GPU_REPRODUCE_ARGS: more reproduce options (a dry run on the CPU: GPU_REPRODUCE_DEVICE=cpu GPU_REPRODUCE_ARGS=--quick)
phase() {  # name, time limit, --only pattern (%s = the model)
  local name=$1 limit=$2 pattern=$3 start
  start=$(date +%s)
  for k in standard l2 linf sensitivity; do
    # shellcheck disable=SC2086,SC2059
    timeout "$limit" node .gpu/js/src/cli/main.js reproduce --device "${GPU_REPRODUCE_DEVICE:-cuda}" --out "$R" ${GPU_REPRODUCE_ARGS:-} \
      --only "${pattern//%s/$k}" > "$R/logs/$name-$k.log" 2>&1 &
  done
  wait
  echo "$name: $(( $(date +%s) - start )) s; $(ls "$R/steps" 2>/dev/null | wc -l) steps done" | tee -a "$R/logs/summary.txt"
}
phase train "${TRAIN_TIMEOUT:-240}" 'train-%s'
phase analysis "${ANALYSIS_TIMEOUT:-150}" 'sensitivity-%s,attack-%s,sweep-%s'
# The archive leaves out what the report does not read and what is large: the per-input
# arrays of the sensitivity steps (`sauron sensitivity` writes them again) and the attacks'
# progress logs (their records are in samples.csv). It comes in parts of at most 15 MB
# (cat ARCHIVE.part-* | tar xz).
if [ -n "$ARCHIVE" ]; then
  tar czf "$ARCHIVE" -C "$(dirname "$R")" --exclude=deltas.npy --exclude=features.npy --exclude=ranking.npy --exclude=logits.npy \
    --exclude=progress.jsonl "$(basename "$R")"
  split -b 15m "$ARCHIVE" "$ARCHIVE.part-" && rm "$ARCHIVE"
  ls -la "$ARCHIVE".part-*
fi
