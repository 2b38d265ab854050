#!/usr/bin/env bash
# Syntax-check native/*.cc against a libtorch header tree other than the system one
# (e.g. Debian trixie's libtorch 2.6 extracted with dpkg -x, or a pip torch's bundled
# libtorch), WITHOUT letting the system bookworm headers in /usr/include/{ATen,c10,torch,
# caffe2} leak in.
#
# Usage: scripts/check-libtorch2.sh [TORCH_INCLUDE_ROOT] [std...]
#   TORCH_INCLUDE_ROOT: directory containing ATen/ c10/ torch/ (default: $TORCH_INCLUDE_ROOT,
#                       else /tmp/trixie-torch/usr/include). For a pip torch use
#                       "$(python -c 'import torch,os;print(os.path.dirname(torch.__file__))')/include".
#   std...:             C++ standards to try (default: c++17 c++20)
# Env: CXX (default g++), EXTRA_CXXFLAGS, FILES (default native/*.cc), JOBS (default nproc),
#      NODE_INC (default /usr/include/node)
# Exit status: number of failing (file, std) pairs, capped at 255.
set -u
cd "$(dirname "$0")/.."

ROOT="${1:-${TORCH_INCLUDE_ROOT:-/tmp/trixie-torch/usr/include}}"
shift || true
STDS=("$@"); [ ${#STDS[@]} -eq 0 ] && STDS=(c++17 c++20)
CXX="${CXX:-g++}"
FILES="${FILES:-$(ls native/*.cc)}"

# The default tree is fetched on first use: Debian trixie's libtorch-dev (2.6), downloaded with a
# private apt configuration (nothing is installed) and unpacked with dpkg -x.
if [ "$ROOT" = /tmp/trixie-torch/usr/include ] && [ ! -f "$ROOT/ATen/ATen.h" ]; then
  A=/tmp/trixie-apt
  mkdir -p $A/lists/partial $A/cache/archives/partial $A/status $A/etc/preferences.d /tmp/trixie-debs
  : > $A/status/status
  echo "deb http://deb.debian.org/debian trixie main" > $A/sources.list
  cat > $A/apt.conf <<CONF
Dir::Etc::SourceList "$A/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::State::Lists "$A/lists";
Dir::Cache "$A/cache";
Dir::State::status "$A/status/status";
Dir::Etc::Preferences "/nonexistent";
Dir::Etc::PreferencesParts "$A/etc/preferences.d";
APT::Architecture "amd64";
CONF
  (export APT_CONFIG=$A/apt.conf; apt-get -q update >/dev/null && cd /tmp/trixie-debs && apt-get -q download libtorch-dev >/dev/null) \
    || { echo "error: could not download Debian trixie's libtorch-dev" >&2; exit 2; }
  dpkg -x /tmp/trixie-debs/libtorch-dev_*.deb /tmp/trixie-torch
fi
# trixie's oneDNN headers (3.x, the oneDNN its libtorch links) beside them, for native/convStack.cc
if [ "$ROOT" = /tmp/trixie-torch/usr/include ] && [ ! -f "$ROOT/dnnl.hpp" ]; then
  (export APT_CONFIG=/tmp/trixie-apt/apt.conf; cd /tmp/trixie-debs && apt-get -q download libdnnl-dev >/dev/null) \
    || { echo "error: could not download Debian trixie's libdnnl-dev" >&2; exit 2; }
  dpkg -x /tmp/trixie-debs/libdnnl-dev_*.deb /tmp/trixie-torch
fi

if [ ! -f "$ROOT/ATen/ATen.h" ] || [ ! -f "$ROOT/torch/csrc/api/include/torch/version.h" ]; then
  echo "error: $ROOT does not look like a libtorch include root" >&2; exit 2
fi
ROOT="$(cd "$ROOT" && pwd)"
NAPI_INC="$(cd "$(node -p "require('node-addon-api').include_dir")" && pwd)"
NODE_INC="${NODE_INC:-/usr/include/node}"

# /usr/include without the libtorch headers: a symlink farm of every entry except those.
SYSINC="$(mktemp -d /tmp/sysinc-notorch.XXXXXX)"
trap 'rm -rf "$SYSINC"' EXIT
for e in /usr/include/* /usr/include/.[!.]*; do
  [ -e "$e" ] || continue
  case "$(basename "$e")" in
    ATen|c10|caffe2|torch|kineto|libshm.h|qnnpack_func.h|THC|TH) continue ;;
  esac
  ln -s "$e" "$SYSINC/$(basename "$e")"
done

# The compiler's default include path, with /usr/include swapped for the filtered farm,
# passed explicitly after -nostdinc so no default path can reach /usr/include/torch.
mapfile -t DEFAULTS < <(echo | "$CXX" -x c++ -E -v - 2>&1 >/dev/null |
  sed -n '/#include <...> search starts here:/,/End of search list./p' | sed '1d;$d;s/^ *//')
SYSFLAGS=(-nostdinc)
for d in "${DEFAULTS[@]}"; do
  if [ "$d" = /usr/include ]; then SYSFLAGS+=(-isystem "$SYSINC"); else SYSFLAGS+=(-isystem "$d"); fi
done

# With oneDNN's headers in ROOT, the convolution stack compiles against them (-I ROOT comes first).
DNNL_FLAGS=()
[ -f "$ROOT/dnnl.hpp" ] && DNNL_FLAGS=(-DSAURON_DNNL)

VER="$(grep -E '^#define TORCH_VERSION_(MAJOR|MINOR|PATCH)' "$ROOT/torch/csrc/api/include/torch/version.h" | awk '{print $3}' | paste -sd.)"
echo "libtorch headers: $ROOT (version $VER); compiler: $("$CXX" --version | head -1)"

LOGDIR="$(mktemp -d /tmp/check-libtorch2.XXXXXX)"
trap 'rm -rf "$SYSINC" "$LOGDIR"' EXIT
JOBS="${JOBS:-$(nproc)}"

# Compiles one (std, file) pair; writes its log and exit status into $LOGDIR.
check_one() {
  local std="$1" f="$2" key="$1__$(basename "$2")"
  # -H lists every header opened; used below to verify none came from outside ROOT.
  "$CXX" -std="$std" -fsyntax-only -H \
    -fexceptions -frtti -Wno-deprecated-declarations \
    -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -D_GLIBCXX_USE_CXX11_ABI=1 \
    -I"$ROOT" -I"$ROOT/torch/csrc/api/include" -I"$NAPI_INC" -I"$NODE_INC" \
    "${DNNL_FLAGS[@]}" "${SYSFLAGS[@]}" ${EXTRA_CXXFLAGS:-} "$f" >"$LOGDIR/$key.log" 2>&1
  echo $? >"$LOGDIR/$key.rc"
}

for std in "${STDS[@]}"; do
  for f in $FILES; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    check_one "$std" "$f" &
  done
done
wait

fail=0
for std in "${STDS[@]}"; do
  for f in $FILES; do
    key="${std}__$(basename "$f")"; log="$LOGDIR/$key.log"; rc="$(cat "$LOGDIR/$key.rc")"
    # Any ATen/c10/torch/caffe2 header opened from outside ROOT is a leak.
    leaked="$(grep -E '^\.+ .*/(ATen|c10|torch|caffe2)/' "$log" | grep -vF " $ROOT/" | head -3)"
    if [ "$rc" -ne 0 ] || [ -n "$leaked" ]; then
      fail=$((fail + 1))
      echo "FAIL [$std] $f"
      [ -n "$leaked" ] && echo "  torch headers from outside $ROOT: $leaked"
      grep -vE '^\.+ ' "$log" | grep -E 'error|note: |required from|In file included' | sed 's/^/  /' | head -60
    else
      echo "ok   [$std] $f"
    fi
    # Warnings (e.g. with EXTRA_CXXFLAGS=-Wdeprecated-declarations) are listed, not fatal.
    grep -vE '^\.+ ' "$log" | grep -E '^native/.*warning:' | sort -u | sed 's/^/  /' | head -20
  done
done
[ "$fail" -eq 0 ] && echo "all compiled cleanly against libtorch $VER"
exit $(( fail > 255 ? 255 : fail ))
