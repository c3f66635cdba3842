#!/usr/bin/env bash
# Differential fuzzing: small random graphs over every supported operator (generate.py), run by
# onnxruntime and by the compiler (interpreter, and the lowered program on every SIMD path and
# on 1 and 2 threads: tests/src/bin/difftest.rs), until SECONDS have passed (default 120).
# A case where they disagree, or where anything panics, is copied into fuzz/regressions/diff/
# (which `cargo test` replays) and the run exits with status 1.
#
#     fuzz/diff/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-120}
venv=fuzz/diff/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r models/requirements.txt
fi
cargo build --quiet --release --locked -p mobilenet-tests --bin difftest
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
end=$((SECONDS + seconds))
status=0
total=0
while [ $SECONDS -lt $end ]; do
    rm -rf "$work/cases"
    "$venv/bin/python" fuzz/diff/generate.py "$work/cases" --cases 200 2>>"$work/generate.log"
    if ! ./target/release/difftest "$work/cases" --keep fuzz/regressions/diff >"$work/batch.log"; then
        status=1
        grep -v '^difftest:' "$work/batch.log" || true
    fi
    total=$((total + $(ls "$work/cases" | grep -c '\.onnx$')))
    tail -n 1 "$work/batch.log"
done
grep -h '^generate.py' "$work/generate.log" | tail -n 3 || true
echo "fuzz/diff: $total cases in ${seconds}s; status $status"
exit $status
