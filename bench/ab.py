#!/usr/bin/env python3
"""A/B of two revisions of this repository on the generated code of the benchmark models.

    bench/ab.py REV_A REV_B [--models v2,v3s,v3l,v1] [--rounds 8] [--runs 60] [--threads 1]

Each revision (anything `git rev-parse` takes; WORKTREE means the files as they are now) is
checked out in a git worktree under bench/out/ab/, its mobilenetc is built in release mode, and
each model's runner is built against that revision's runtime (one cache folder per revision).
The runners of A and B then take turns, the order flipped every round (`runner bench 5 RUNS`:
median of RUNS timed inferences); the ratio is the median of the per-round ratios B / A. On a
shared, noisy machine this pairing is what makes a 1-2% change visible at all.

Needs only Python 3 and cargo; the models come from ../shared/models (MOBILENET_SHARED). The
worktrees (each with its own target folder) stay for the next run; `rm -rf bench/out/ab && git
worktree prune` removes them.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

from compare import MODELS, ROOT, SHARED


def build(rev, out):
    """Builds mobilenetc of `rev` and the runners of the chosen models; returns {model: binary}."""
    if rev == "WORKTREE":
        src = ROOT
    else:
        sha = subprocess.run(["git", "rev-parse", "--verify", rev + "^{commit}"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
        src = os.path.join(out, "tree-" + sha[:12])
        if not os.path.isdir(src):
            subprocess.run(["git", "worktree", "add", "--detach", src, sha], cwd=ROOT, check=True,
                           capture_output=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "mobilenet-compiler", "--bin", "mobilenetc"],
                   cwd=src, check=True)
    env = dict(os.environ, MOBILENETC_CACHE=os.path.join(out, "cache-" + os.path.basename(src)))
    runners = {}
    for key in ARGS.models.split(","):
        title, path, _ = MODELS[key]
        cmd = [os.path.join(src, "target/release/mobilenetc"), "bench", os.path.join(SHARED, path),
               "--threads", str(ARGS.threads), "--print-binary"]
        binary = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout.strip()
        # A copy: the cache's binary is rebuilt in place when the runtime changes.
        kept = os.path.join(out, f"{rev.replace('/', '_')}-{key}")
        shutil.copy2(binary, kept)
        runners[key] = kept
    return runners


def median_ms(binary):
    env = dict(os.environ, MOBILENET_THREADS=str(ARGS.threads))
    out = subprocess.run([binary, "bench", "5", str(ARGS.runs)], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["median_ms"]


def main():
    out = os.path.join(ROOT, "bench", "out", "ab")
    os.makedirs(out, exist_ok=True)
    a, b = build(ARGS.rev_a, out), build(ARGS.rev_b, out)
    print(f"A = {ARGS.rev_a}, B = {ARGS.rev_b}; {ARGS.rounds} rounds, median of {ARGS.runs} runs each, "
          f"{ARGS.threads} thread(s)")
    for key in ARGS.models.split(","):
        times = {"A": [], "B": []}
        for r in range(ARGS.rounds):
            for tag in ("A", "B") if r % 2 == 0 else ("B", "A"):
                times[tag].append(median_ms((a if tag == "A" else b)[key]))
        ratio = statistics.median(y / x for x, y in zip(times["A"], times["B"]))
        print(f"{MODELS[key][0]:22s} A {statistics.median(times['A']):7.3f} ms  B {statistics.median(times['B']):7.3f} ms"
              f"  B/A {ratio:.3f}  (min {min(times['A']):.3f} / {min(times['B']):.3f})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rev_a")
    ap.add_argument("rev_b")
    ap.add_argument("--models", default="v2,v3s,v3l,v1")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ARGS = ap.parse_args()
    sys.exit(main())
