#!/usr/bin/env python3
"""Fetches ONNX's backend node tests (the conformance suite in the onnx 1.17.0 wheel, under
onnx/backend/test/data/node) into target/onnx-backend-node, where tests/tests/onnx_backend.rs
finds them. Needs pip and the network; uses only Python's standard library otherwise.

    python3 tests/onnx_backend/fetch.py
"""
import glob
import os
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEST = os.path.join(ROOT, "target", "onnx-backend-node")
PREFIX = "onnx/backend/test/data/node/"

if os.path.isdir(DEST) and os.listdir(DEST):
    print(f"{DEST} is already there")
    sys.exit(0)
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "onnx==1.17.0", "-d", tmp], check=True)
    wheel = glob.glob(os.path.join(tmp, "onnx-1.17.0-*.whl"))[0]
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if n.startswith(PREFIX) and not n.endswith("/")]
        for n in names:
            target = os.path.join(DEST, n[len(PREFIX):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(n) as src, open(target, "wb") as dst:
                dst.write(src.read())
print(f"{len(names)} files of the onnx 1.17.0 node tests in {DEST}")
