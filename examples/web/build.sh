#!/usr/bin/env bash
# Builds the web example into target/web: the model as a no_std wasm32 module with simd128, and
# one with relaxed-simd too (Debian's rustc-web, installed by scripts/setup-cross), the page,
# its glue, the labels and the bundled photo. Serve that folder with any static file server:
#
#   examples/web/build.sh && python3 -m http.server -d target/web 8000
#   # then open http://localhost:8000/
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/target/web"
[ -f "$root/target/cross/relaxed.toml" ] || "$root/scripts/setup-cross"
export RUSTC_BOOTSTRAP=1 # lets Debian's stable rustc-web take -Z build-std
# Two modules: simd128, and simd128 with relaxed-simd (its multiply-adds fused) for engines
# that have it; the page picks one (mobilenet.js). Each settings file has its own target dir.
build() { # build <cargo settings> <target dir>
    (cd "$here" && cargo +debian-web rustc --release --quiet -p mobilenet-web --crate-type cdylib \
        --target wasm32-unknown-unknown -Z build-std=core,alloc --config "$1" --target-dir "$2")
}
build "$root/target/cross/config.toml" "$root/target/cross/build"
build "$root/target/cross/relaxed.toml" "$root/target/cross/relaxed"
mkdir -p "$out"
cp "$root/target/cross/build/wasm32-unknown-unknown/release/mobilenet_web.wasm" "$out/"
cp "$root/target/cross/relaxed/wasm32-unknown-unknown/release/mobilenet_web.wasm" "$out/mobilenet_web_relaxed.wasm"
cp "$here/www/index.html" "$here/www/mobilenet.js" "$out/"
cp "$root/models/labels/imagenet_1001.txt" "$out/labels.txt"
cp "$root/models/images/chelsea.png" "$out/"
echo "built $out ($(du -h "$out/mobilenet_web.wasm" | cut -f1) module)" >&2
