#!/usr/bin/env bash
# Fixtures regenerate identically: reruns every fixtures/generate_*.py (and the bench/ scripts
# they import) with Debian's python3-torch into a temporary folder, SAURON_FIXTURES_OUT, and
# compares each file it writes with the committed one under fixtures/. The generators run from a
# copy of fixtures/ and bench/ (data/ linked), so one that ignores SAURON_FIXTURES_OUT cannot
# overwrite the committed files: it is reported instead. Files compare byte for
# byte; zip archives (torch.save, torch.jit.save) entry by entry, with TorchScript's code/*.py
# compared as sorted lines (torch.jit.save orders a module's constants by Python's per-process
# string hash) and its debug_pkl source ranges not compared; legacy (non-zip) torch.save files,
# whose storages are named by memory address, by the tensors they load. Safetensors files made with another
# BLAS (the committed ones come from Debian's python3-torch on BLIS, libblis4-openmp, as
# scripts/setup.sh installs it) differ in float32 rounding: within 1e-5 of each tensor's scale
# they are reported as a note, a failure with STRICT=1. Also fails when a generator writes beside itself instead, writes nothing, or
# names an absolute path.
# A generator runs once without arguments, and once more per `# check-fixtures-args: ARGS` line
# it holds (a mode that writes other files). A generator with a `# check-fixtures-needs: VAR`
# line (the reference AutoAttack's folder, AUTOATTACK_DIR) is skipped with a note when VAR is unset.
#   bash scripts/check-fixtures.sh            (needs python3-torch and python3-torchvision)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "check-fixtures: $*"; fail=1; }

# generators read only the repository: no absolute paths, nothing from outside it
if grep -nE "['\"](~|/(usr|home|work|tmp|root|mnt|opt|etc|var|srv|media|shared)/)|\.\./\.\./" fixtures/*.py; then
  bad "the lines above name a path outside the repository"
fi

snapshot() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
snapshot fixtures > "$tmp/before"
repo="$tmp/repo"
mkdir -p "$repo"
cp -r fixtures "$repo/"
for f in bench/*/*.py; do mkdir -p "$repo/${f%/*}" && cp "$f" "$repo/$f"; done
ln -s "$PWD/data" "$repo/data"
snapshot "$repo/fixtures" > "$tmp/sandbox-before"

compare() {  # committed, regenerated: prints why they count as the same, or fails saying how they differ
  "$PY" - "$1" "$2" <<'PY'
import json
import struct
import sys
import zipfile

import numpy as np

a, b = sys.argv[1], sys.argv[2]


def safetensors(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    meta = head.pop('__metadata__', None)
    types = {'F32': np.float32, 'F64': np.float64, 'I64': np.int64, 'F16': np.float16, 'I32': np.int32, 'U8': np.uint8, 'BOOL': np.bool_}
    arrays = {k: np.frombuffer(raw[8 + n + d['data_offsets'][0]:8 + n + d['data_offsets'][1]], types[d['dtype']]).reshape(d['shape'])
              for k, d in head.items()}
    return meta, arrays


if a.endswith('.safetensors'):
    (ma, xa), (mb, xb) = safetensors(a), safetensors(b)
    if ma != mb:
        sys.exit('differs: metadata')
    if sorted(xa) != sorted(xb):
        sys.exit(f'differs: tensors {sorted(set(xa) ^ set(xb))[:5]}')
    worst = 0.0
    for k, x in xa.items():
        y = xb[k]
        if x.dtype != y.dtype or x.shape != y.shape:
            sys.exit(f'differs: {k} dtype or shape')
        if not np.issubdtype(x.dtype, np.floating):
            if not np.array_equal(x, y):
                sys.exit(f'differs: {k}')
            continue
        x, y = x.astype(np.float64), y.astype(np.float64)
        if not (np.array_equal(np.isnan(x), np.isnan(y)) and np.array_equal(x[np.isinf(x)], y[np.isinf(x)])):
            sys.exit(f'differs: {k} (non-finite entries)')
        f = np.isfinite(x)
        if f.any():
            # float32 rounding of another BLAS: 1e-5 of the tensor's scale, and 1e-6 for
            # tensors that are rounding noise themselves (a bias before batch norm: gradient 0)
            err = np.abs(x[f] - y[f]).max()
            if err > 1e-5 * np.abs(x[f]).max() + 1e-6:
                sys.exit(f'differs: {k} by {err:.3g}')
            worst = max(worst, err)
    print(f'equal within float32 rounding (largest difference {worst:.2g}): made with another BLAS or libtorch')
    sys.exit(3)
if not (zipfile.is_zipfile(a) and zipfile.is_zipfile(b)):
    # torch.save's legacy format names storages by memory address: compare what loads
    import torch

    def same(x, y):
        if isinstance(x, torch.Tensor):
            return (isinstance(y, torch.Tensor) and x.dtype == y.dtype and x.shape == y.shape and x.stride() == y.stride()
                    and torch.equal(x, y))
        if isinstance(x, dict):
            return isinstance(y, dict) and list(x) == list(y) and all(same(x[k], y[k]) for k in x)
        if isinstance(x, (list, tuple)):
            return type(x) is type(y) and len(x) == len(y) and all(same(u, v) for u, v in zip(x, y))
        return x == y
    try:
        if same(torch.load(a, map_location='cpu', weights_only=True), torch.load(b, map_location='cpu', weights_only=True)):
            print('the same tensors (a legacy torch.save file: its storage keys are addresses)')
            sys.exit(0)
    except Exception as e:  # noqa: BLE001 - not a torch file either
        sys.exit(f'differs ({type(e).__name__})')
    sys.exit('differs')
try:
    za, zb = zipfile.ZipFile(a), zipfile.ZipFile(b)
    na, nb = sorted(za.namelist()), sorted(zb.namelist())
    if na != nb:
        sys.exit(f'differs: entries {sorted(set(na) ^ set(nb))[:5]}')
    for n in na:
        x, y = za.read(n), zb.read(n)
        if x == y or ('/code/' in n and n.endswith('.debug_pkl')):
            continue  # (debug_pkl: source ranges into the code below)
        if '/code/' in n and n.endswith('.py') and sorted(x.splitlines()) == sorted(y.splitlines()):
            continue
        sys.exit(f'differs in {n}')
except (zipfile.BadZipFile, OSError, KeyError) as e:
    sys.exit(f'differs (unreadable archive: {e})')
print('the same archive entries (TorchScript code in another order)')
PY
}

for g in fixtures/generate_*.py; do
  name=$(basename "$g" .py)
  unset_var=
  for v in $(sed -n 's/^# check-fixtures-needs:[[:space:]]*//p' "$g"); do [ -n "${!v:-}" ] || unset_var=$v; done
  if [ -n "$unset_var" ]; then echo "check-fixtures: note: $g skipped: it needs $unset_var, which is unset"; continue; fi
  out="$tmp/out/$name"
  mkdir -p "$out"
  mapfile -t modes < <(sed -n 's/^# check-fixtures-args:[[:space:]]*//p' "$g")
  for args in "" "${modes[@]}"; do
    # shellcheck disable=SC2086
    if ! SAURON_FIXTURES_OUT="$out" "$PY" "$repo/$g" $args > "$tmp/$name.log" 2>&1; then
      bad "$g $args failed:"; tail -5 "$tmp/$name.log"
    fi
  done
  n=0
  while IFS= read -r -d '' f; do
    n=$((n + 1))
    rel=${f#"$out"/}
    committed="fixtures/$rel"
    if [ ! -f "$committed" ]; then bad "$g writes $rel, which is not committed"; continue; fi
    if cmp -s "$committed" "$f"; then continue; fi
    why=$(compare "$committed" "$f" 2>&1)
    case $? in
      0) echo "check-fixtures: $rel: $why" ;;
      3) if [ "${STRICT:-0}" = 1 ]; then bad "$rel: $why (STRICT=1)"; else echo "check-fixtures: note: $rel: $why"; fi ;;
      *) bad "$rel ($g) $why" ;;
    esac
  done < <(find "$out" -type f -print0)
  [ "$n" -gt 0 ] || bad "$g wrote nothing into SAURON_FIXTURES_OUT"
  echo "check-fixtures: $g: $n files"
done

snapshot "$repo/fixtures" > "$tmp/sandbox-after"
if ! cmp -s "$tmp/sandbox-before" "$tmp/sandbox-after"; then
  bad "a generator wrote beside itself, not into SAURON_FIXTURES_OUT (files of the copy of fixtures/):"
  diff "$tmp/sandbox-before" "$tmp/sandbox-after" | grep '^>' | head -20
fi
snapshot fixtures > "$tmp/after"
cmp -s "$tmp/before" "$tmp/after" || bad "fixtures/ changed while the check ran (another process?)"
[ "$fail" = 0 ] && echo "check-fixtures: every fixture regenerates identically"
exit "$fail"
