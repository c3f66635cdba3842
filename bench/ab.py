#!/usr/bin/env python3
"""A/B of two revisions of this repository on the generated code of the benchmark models.

    bench/ab.py REV_A REV_B [--models v2,v3s,v3l,v1] [--rounds 8] [--runs 60] [--threads 1] [--batch 1]
    bench/ab.py REV_A REV_B --kernels FILTER [--rounds 6]     # the criterion kernel benches

Each revision (anything `git rev-parse` takes; WORKTREE means the files as they are now) is
checked out in a git worktree under bench/out/ab/, its mobilenetc is built in release mode, and
each model's runner is built against that revision's runtime (one cache folder per revision).
The runners of A and B then take turns, the order flipped every round (`runner bench 5 RUNS`:
median of RUNS timed inferences); the ratio is the median of the per-round ratios B / A. On a
shared, noisy machine this pairing is what makes a 1-2% change visible at all.

With `--kernels FILTER` the two revisions' kernel benchmarks (`cargo bench -p mobilenet-kernels
--bench kernels`, the benches whose names match the regular expression FILTER) take turns the
same way, and each bench's ratio is the median of its per-round ratios. Criterion alone compares
a run with the previous one, minutes apart: on this machine the same binary measured 25 or 35
G MAC/s minutes apart (another tenant on the core's other hyper-thread), so only this pairing
tells a change from a phase.

Needs only Python 3 and cargo; the models come from ../shared/models (MOBILENET_SHARED). The
worktrees (each with its own target folder) stay for the next run; `rm -rf bench/out/ab && git
worktree prune` removes them.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

from compare import MODELS, ROOT, SHARED


def checkout(rev, out):
    """The source folder of `rev`: this checkout for WORKTREE, else a git worktree under `out`."""
    if rev == "WORKTREE":
        return ROOT
    sha = subprocess.run(["git", "rev-parse", "--verify", rev + "^{commit}"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    src = os.path.join(out, "tree-" + sha[:12])
    if not os.path.isdir(src):
        # A worktree whose folder was deleted (rm -rf bench/out/ab) is still registered.
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)
        subprocess.run(["git", "worktree", "add", "--detach", src, sha], cwd=ROOT, check=True, capture_output=True)
    return src


def build_kernel_bench(rev, out):
    """Builds the kernel benchmark binary of `rev`; returns a copy of it."""
    src = checkout(rev, out)
    built = subprocess.run(["cargo", "bench", "-p", "mobilenet-kernels", "--bench", "kernels", "--no-run",
                            "--message-format", "json"], cwd=src, check=True, capture_output=True, text=True)
    binary = next(m["executable"] for m in map(json.loads, built.stdout.splitlines())
                  if m.get("reason") == "compiler-artifact" and m.get("executable")
                  and m["target"]["name"] == "kernels")
    kept = os.path.join(out, f"{rev.replace('/', '_')}-kernels")
    shutil.copy2(binary, kept)
    return kept


def bench_kernels(binary):
    """{bench name: median time in microseconds} of one pass of the matching benches."""
    out = subprocess.run([binary, "--bench", "--warm-up-time", "0.5", "--measurement-time", "1.5", "--noplot",
                          ARGS.kernels], check=True, capture_output=True, text=True).stdout
    times, name = {}, None
    unit = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
    for line in out.splitlines():
        words = line.split()
        if line[:1].isalpha() and words:
            name = words[0]
        m = re.search(r"time:\s+\[\S+ \S+ ([0-9.]+) (\S+)", line)
        if m and name:
            times[name] = float(m.group(1)) * unit[m.group(2)]
            name = None
    return times


def kernels_main(out):
    a, b = build_kernel_bench(ARGS.rev_a, out), build_kernel_bench(ARGS.rev_b, out)
    print(f"A = {ARGS.rev_a}, B = {ARGS.rev_b}; {ARGS.rounds} rounds of the kernel benches matching {ARGS.kernels!r}")
    runs = {"A": [], "B": []}
    for r in range(ARGS.rounds):
        for tag in ("A", "B") if r % 2 == 0 else ("B", "A"):
            runs[tag].append(bench_kernels(a if tag == "A" else b))
    for name in runs["A"][0]:
        xs, ys = [t[name] for t in runs["A"]], [t.get(name) for t in runs["B"]]
        if None in ys:
            continue
        ratio = statistics.median(y / x for x, y in zip(xs, ys))
        print(f"{name:45s} A {statistics.median(xs):9.2f} us  B {statistics.median(ys):9.2f} us  B/A {ratio:.3f}")


def build(rev, out):
    """Builds mobilenetc of `rev` and the runners of the chosen models; returns {model: binary}."""
    src = checkout(rev, out)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "mobilenetc"],
                   cwd=src, check=True)
    env = dict(os.environ, MOBILENETC_CACHE=os.path.join(out, "cache-" + os.path.basename(src)))
    runners = {}
    for key in ARGS.models.split(","):
        title, path, _ = MODELS[key]
        model = os.path.join(SHARED, path)
        if ARGS.batch > 1:
            # The copy with a symbolic batch that bench/compare.sh writes for batch > 1.
            model = os.path.join(ROOT, "bench", "out", os.path.basename(path).replace(".onnx", ".symbatch.onnx"))
            if not os.path.exists(model):
                sys.exit(f"{model} is missing: run bench/compare.sh --batches {ARGS.batch} once first")
        cmd = [os.path.join(src, "target/release/mobilenetc"), "bench", model, "--batch", str(ARGS.batch),
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
    if ARGS.kernels:
        return kernels_main(out)
    a, b = build(ARGS.rev_a, out), build(ARGS.rev_b, out)
    print(f"A = {ARGS.rev_a}, B = {ARGS.rev_b}; {ARGS.rounds} rounds, median of {ARGS.runs} runs each, "
          f"{ARGS.threads} thread(s), batch {ARGS.batch}")
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
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--kernels", metavar="FILTER", help="compare the kernel benchmarks matching FILTER instead")
    ARGS = ap.parse_args()
    sys.exit(main())
