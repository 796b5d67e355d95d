#!/usr/bin/env bash
# Builds llama.cpp's benchmark tools (llama-bench, llama-batched-bench, llama-cli) from the
# llama-cpp-python sdist on PyPI into a cache folder, for `tools/bench compare`. Not used by CI.
# GGML_NATIVE=ON: llama.cpp gets every instruction set this CPU has, as a user building it here
# would. Prints the folder holding the binaries.
#
#   tools/compare/build-llamacpp.sh            # version 0.3.36 (llama.cpp 0c1e57098)
#   LLAMACPP_PY_VERSION=0.3.36 QUIETSTAR_CACHE=~/.cache/quietstar tools/compare/build-llamacpp.sh
set -euo pipefail
version="${LLAMACPP_PY_VERSION:-0.3.36}"
cache="${QUIETSTAR_CACHE:-$HOME/.cache/quietstar}/llamacpp"
src="$cache/llama_cpp_python-$version/vendor/llama.cpp"
build="$cache/build-$version"
mkdir -p "$cache"
if [[ ! -f "$cache/llama_cpp_python-$version.tar.gz" ]]; then
    echo "compare: downloading llama-cpp-python $version (sdist) from PyPI" >&2
    python3 - "$version" "$cache" <<'PY'
import re, sys, urllib.request
version, cache = sys.argv[1], sys.argv[2]
name = f"llama_cpp_python-{version}.tar.gz"
html = urllib.request.urlopen("https://pypi.org/simple/llama-cpp-python/").read().decode()
url = next(u for u, n in re.findall(r'href="([^"]+)"[^>]*>([^<]+)<', html) if n == name)
urllib.request.urlretrieve(url, f"{cache}/{name}.part")
PY
    mv "$cache/llama_cpp_python-$version.tar.gz.part" "$cache/llama_cpp_python-$version.tar.gz"
fi
[[ -d "$src" ]] || tar xzf "$cache/llama_cpp_python-$version.tar.gz" -C "$cache"
command -v cmake > /dev/null || pip install --quiet cmake >&2
if [[ ! -x "$build/bin/llama-bench" || ! -x "$build/bin/llama-batched-bench" ]]; then
    echo "compare: building llama.cpp in $build (several minutes)" >&2
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF > "$build.log" 2>&1
    cmake --build "$build" -j "$(nproc)" --target llama-bench llama-batched-bench >> "$build.log" 2>&1 \
        || { tail -30 "$build.log" >&2; exit 1; }
fi
echo "$build/bin"
