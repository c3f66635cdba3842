#!/usr/bin/env python3
"""Cold start of one compiled model, with and without `map_weights_in_background`.

Alternates, in shuffled order per round, fresh processes of the runner's `once` (weights mapped
on a helper thread), `once in-place` (the first inference maps them) and /bin/true (what the
spawn itself costs from Python), each timed from spawn to the first line of output; prints the
median and min of each and the median of the per-round differences.

    python3 bench/cold.py MODEL.onnx [--spawns 30]      (mobilenetc from target/release)
"""
import argparse
import os
import random
import statistics
import subprocess

from compare import first_output_ms

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--spawns", type=int, default=30)
    ap.add_argument("--mobilenetc", default=os.path.join(HERE, "..", "target", "release", "mobilenetc"))
    args = ap.parse_args()
    binary = subprocess.run([args.mobilenetc, "bench", args.model, "--print-binary"], capture_output=True, text=True, check=True).stdout.strip()
    kinds = {"mapped on a helper thread": [binary, "once"], "in place": [binary, "once", "in-place"], "/bin/true": ["/bin/true"]}
    times = {k: [] for k in kinds}
    for _ in range(args.spawns):
        order = list(kinds)
        random.shuffle(order)
        for k in order:
            times[k].append(first_output_ms(kinds[k])[0])
    for k, v in times.items():
        print(f"{k:26} median {statistics.median(v):6.2f} ms  min {min(v):6.2f} ms")
    diffs = [a - b for a, b in zip(times["in place"], times["mapped on a helper thread"])]
    print(f"in place - mapped, median of {args.spawns} rounds: {statistics.median(diffs):.2f} ms")


if __name__ == "__main__":
    main()
