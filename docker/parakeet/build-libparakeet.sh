#!/usr/bin/env bash
# Builds libparakeet (parakeet.cpp's C library) from source at a pinned commit, for
# @talkies/engine-parakeet-cpp. Used by docker/Dockerfile and by developers
# (pnpm build:libparakeet). Needs git, cmake (>= 3.18), a C++17 compiler, and network
# access to the parakeet.cpp repository and its ggml submodule.
#
#   docker/parakeet/build-libparakeet.sh [--prefix DIR] [--cuda] [--jobs N] [--source DIR]
#
#   --prefix DIR   install libparakeet.so (and any libggml*.so it needs) into DIR/lib
#                  (default: packages/engine-parakeet-cpp, i.e. beside the package, where
#                  the engine looks without TALKIES_PARAKEET_LIB)
#   --cuda         build the CUDA backend too (needs the CUDA toolkit; for the CUDA image)
#   --jobs N       parallel compile jobs (default: nproc)
#   --source DIR   build an existing checkout instead of cloning (its commit is reported,
#                  not changed)
#
# Environment: PARAKEET_REPO, PARAKEET_COMMIT override the pinned source below.
set -euo pipefail

# mudler/parakeet.cpp at the commit LocalAI v4.9.0 builds against. The engine supports C API
# versions 3 to 10; the build stops if the result reports another.
PARAKEET_REPO="${PARAKEET_REPO:-https://github.com/mudler/parakeet.cpp}"
PARAKEET_COMMIT="${PARAKEET_COMMIT:-e75de9b6b9b688fd293aa22f7e27aa724ea286f8}"
ABI_MIN=3
ABI_MAX=10

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repository_root="$(cd "$here/../.." && pwd)"
prefix="$repository_root/packages/engine-parakeet-cpp"
cuda=OFF
jobs="$(nproc 2>/dev/null || echo 2)"
source_dir=""

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --cuda) cuda=ON; shift ;;
    --jobs) jobs="$2"; shift 2 ;;
    --source) source_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

for tool in git cmake c++ cc; do
  command -v "$tool" >/dev/null || { echo "build-libparakeet: '$tool' is missing; install git, cmake and a C/C++ compiler (Debian: apt-get install git cmake g++)" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/libparakeet-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [ -z "$source_dir" ]; then
  source_dir="$work/parakeet.cpp"
  echo "build-libparakeet: cloning $PARAKEET_REPO at $PARAKEET_COMMIT"
  git init -q "$source_dir"
  git -C "$source_dir" remote add origin "$PARAKEET_REPO"
  git -C "$source_dir" fetch -q --depth 1 origin "$PARAKEET_COMMIT"
  git -C "$source_dir" checkout -q FETCH_HEAD
  git -C "$source_dir" submodule update -q --init --recursive --depth 1
fi
commit="$(git -C "$source_dir" rev-parse HEAD 2>/dev/null || echo unknown)"

# One self-contained shared library: ggml is linked in statically (position-independent),
# and RUNPATH=$ORIGIN finds any backend library installed next to it. GGML_NATIVE=OFF keeps
# the binary portable (ggml still picks AVX2/AVX-512 at run time).
cmake -S "$source_dir" -B "$work/build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DPARAKEET_SHARED=ON \
  -DPARAKEET_BUILD_CLI=OFF \
  -DPARAKEET_BUILD_SERVER=OFF \
  -DPARAKEET_BUILD_TESTS=OFF \
  -DPARAKEET_GGML_CUDA="$cuda" \
  -DGGML_NATIVE=OFF \
  -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON \
  -DCMAKE_INSTALL_RPATH='$ORIGIN'
cmake --build "$work/build" -j "$jobs" --target parakeet

library="$(find "$work/build" -name 'libparakeet.so' -print -quit)"
[ -n "$library" ] || { echo "build-libparakeet: the build produced no libparakeet.so" >&2; exit 1; }

# Check the C API version before installing anything.
cat > "$work/abi.c" <<'C'
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
  void *handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!handle) { fprintf(stderr, "%s\n", dlerror()); return 2; }
  int (*abi)(void) = (int (*)(void))dlsym(handle, "parakeet_capi_abi_version");
  if (!abi) { fprintf(stderr, "no parakeet_capi_abi_version\n"); return 3; }
  printf("%d\n", abi());
  return argc > 2;
}
C
cc -o "$work/abi" "$work/abi.c" -ldl
abi="$("$work/abi" "$library")"
if [ "$abi" -lt "$ABI_MIN" ] || [ "$abi" -gt "$ABI_MAX" ]; then
  echo "build-libparakeet: $PARAKEET_REPO@$commit has C API version $abi; @talkies/engine-parakeet-cpp supports $ABI_MIN to $ABI_MAX" >&2
  exit 1
fi

mkdir -p "$prefix/lib"
cp "$library" "$prefix/lib/libparakeet.so"
find "$work/build" -name 'libggml*.so*' -exec cp -a {} "$prefix/lib/" \;
printf 'repository=%s\ncommit=%s\nabi=%s\ncuda=%s\n' "$PARAKEET_REPO" "$commit" "$abi" "$cuda" > "$prefix/lib/libparakeet.build-info"
echo "build-libparakeet: installed $prefix/lib/libparakeet.so (C API version $abi, commit $commit, CUDA $cuda)"
