#!/usr/bin/env bash
# One command for the side-by-side benchmark: installs the peers (onnxruntime, ai-edge-litert
# for XNNPACK) into bench/.venv, builds mobilenetc in release mode, and runs bench/compare.py,
# which interleaves our generated code and the peers in one run.
#
#   bench/compare.sh                       # the full table (a few minutes)
#   bench/compare.sh --models v2 --batches 1 --threads 1 --rounds 5   # a quick look
#   bench/compare.sh --models v2,v3s,v1 --target wasm32-wasip1          # wasm32 in node vs onnxruntime-web
#
# Output: a Markdown table on stdout, bench/out/results.md and bench/out/results.json.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import onnxruntime, ai_edge_litert, onnx, numpy" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
(cd "$root" && cargo build --release --quiet --bin mobilenetc)
# The wasm32 rows: onnxruntime-web from npm (bench/package-lock.json), and the cross toolchain.
if [[ " $* " == *" --target wasm32-wasip1 "* ]]; then
    [ -d "$here/node_modules/onnxruntime-web" ] || npm ci --prefix "$here" --no-audit --no-fund --silent
    [ -f "$root/target/cross/config.toml" ] || "$root/scripts/setup-cross"
fi
exec "$venv/bin/python" "$here/compare.py" --mobilenetc "$root/target/release/mobilenetc" "$@"
