#!/usr/bin/env python3
"""Side-by-side latency of our generated code, onnxruntime and XNNPACK (LiteRT), on this machine,
in one run: persistent warm workers, rounds in shuffled order, ~80 ms of back-to-back inferences
per worker per round (times the batch size, so that a round holds several inferences and the
slower first one after another worker ran does not decide its median), the ratio taken per
round (the machine is shared and noisy: only paired ratios mean anything). Also peak RSS of each worker process and cold start (process start to
first output for ours; model load + first inference, in-process, for the peers).

Run it through bench/compare.sh, which installs the peers and builds mobilenetc.
"""
import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.environ.get("MOBILENET_SHARED", os.path.join(ROOT, "..", "shared"))

MODELS = {
    "v2": ("MobileNetV2 1.0/224", "models/torch/mobilenet_v2.tv.legacy.op13.onnx", "bench/keras_mobilenetv2_b1.tflite"),
    "v3s": ("MobileNetV3-small", "models/torch/mobilenet_v3_small.tv.legacy.op13.onnx", None),
    "v3l": ("MobileNetV3-large", "models/torch/mobilenet_v3_large.tv.legacy.op13.onnx", None),
    "v1": ("MobileNetV1 0.5/224", "models/torch/mobilenet_v1_0.5.torch.dynbatch.op13.onnx", None),
    # int8: onnxruntime's quantize_static (QDQ, u8 activations, s8 weights per channel) against
    # XNNPACK on the TF2 int8 TFLite MobileNetV2 (the same network and quantisation style), and
    # Coral's two pretrained styles against their TFLite originals.
    "v2q": ("MobileNetV2 int8 (QDQ)", "models/int8/mobilenet_v2.tv.legacy.op13.ort_qdq_u8s8.onnx", "bench/tf2_mobilenet_v2_1.0_224_ptq.tflite"),
    "v2tf2": ("MobileNetV2 int8 (Coral TF2)", "models/pretrained/coral_tf2_mobilenet_v2_1.0_224_ptq.qdq.onnx", "bench/tf2_mobilenet_v2_1.0_224_ptq.tflite"),
    "v2tf1": ("MobileNetV2 uint8 (Coral TF1)", "models/pretrained/coral_mobilenet_v2_1.0_224_quant.qdq.onnx", "bench/mobilenet_v2_1.0_224_quant.tflite"),
    "v3lq": ("MobileNetV3-large int8 (QDQ)", "models/int8/mobilenet_v3_large.tv.legacy.op13.ort_qdq_u8s8.onnx", None),
    "v1q": ("MobileNetV1 0.5/224 int8 (QDQ)", "models/int8/mobilenet_v1_0.5.torch.dynbatch.op13.ort_qdq_u8s8.onnx", None),
}


def with_symbolic_batch(path, out_dir):
    """A copy of the model whose batch dimension is symbolic (torch's legacy exports fix it at 1
    although nothing in these graphs depends on it), for batch > 1."""
    import onnx

    m = onnx.load(path)
    for vi in list(m.graph.input) + list(m.graph.output):
        d = vi.type.tensor_type.shape.dim[0]
        d.ClearField("dim_value")
        d.dim_param = "batch"
    out = os.path.join(out_dir, os.path.basename(path).replace(".onnx", ".symbatch.onnx"))
    onnx.save(m, out)
    return out


class Worker:
    def __init__(self, name, argv):
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            err = self.proc.stderr.read()
            raise RuntimeError(f"{name} did not start: {line!r} {err.strip()[-500:]}")
        self.samples = []
        self.rounds = []

    def measure(self, ms):
        self.proc.stdin.write(f"time {ms}\n")
        self.proc.stdin.flush()
        times = json.loads(self.proc.stdout.readline())
        self.samples += times
        self.rounds.append(statistics.median(times))

    def peak_rss_mb(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


def first_output_ms(cmd):
    """Spawns `cmd`; the time to its first line of output and to its exit (ms). Raises if it fails."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdout.readline()
    first = (time.perf_counter() - t) * 1e3
    p.stdout.read()
    if p.wait() != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    return first, (time.perf_counter() - t) * 1e3


def cold_start(model, ours_binary_cmd):
    """Median of 9 fresh processes each, ours and onnxruntime's alternated (the machine's noise
    comes and goes)."""
    binary = subprocess.run(ours_binary_cmd, capture_output=True, text=True, check=True).stdout.strip()
    ours, peers = [], []
    for _ in range(9):
        ours.append(first_output_ms([binary, "once"]))
        t = time.perf_counter()
        out = subprocess.run([sys.executable, os.path.join(HERE, "worker.py"), "ort", model, "1", "1", "cold"], capture_output=True, text=True, check=True)
        total = (time.perf_counter() - t) * 1e3
        r = json.loads(out.stdout)
        peers.append((r["load_ms"] + r["first_ms"], total))
    return {
        "ours_first_output_ms": statistics.median(o[0] for o in ours),
        "ours_process_ms": statistics.median(o[1] for o in ours),
        "ort_load_first_ms": statistics.median(p[0] for p in peers),
        "ort_process_ms": statistics.median(p[1] for p in peers),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mobilenetc", required=True)
    ap.add_argument("--models", default="v2,v3s,v3l,v1", help="float: v2,v3s,v3l,v1; int8: v2q,v2tf2,v2tf1,v3lq,v1q")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--ms", type=float, default=80.0)
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument(
        "--target",
        choices=["native", "wasm32-wasip1"],
        default="native",
        help="wasm32-wasip1: ours built for wasm32 against onnxruntime-web (wasm backend, SIMD, one thread), both in node; float models, batch 1, one thread",
    )
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results = []
    for key in args.models.split(","):
        title, rel, tflite = MODELS[key]
        model = os.path.join(SHARED, rel)
        if not os.path.exists(model):
            sys.exit(f"{model} is missing: the benchmark models come from ../shared")
        wasm = args.target == "wasm32-wasip1"
        batches = [1] if wasm else list(map(int, args.batches.split(",")))
        for batch in batches:
            path = model if batch == 1 else with_symbolic_batch(model, args.out)
            for threads in [1] if wasm else map(int, args.threads.split(",")):
                ours_cmd = [args.mobilenetc, "bench", path, "--batch", str(batch), "--threads", str(threads)]
                if wasm:
                    ours_cmd += ["--target", args.target]
                workers = []
                try:
                    workers.append(Worker("ours", ours_cmd + ["--serve"]))
                    if wasm:
                        workers.append(Worker("onnxruntime-web", ["node", os.path.join(HERE, "ort_web_worker.mjs"), path]))
                    else:
                        workers.append(Worker("onnxruntime", [sys.executable, os.path.join(HERE, "worker.py"), "ort", path, str(threads), str(batch)]))
                    if tflite and not wasm:
                        workers.append(Worker("xnnpack", [sys.executable, os.path.join(HERE, "worker.py"), "tflite", os.path.join(SHARED, tflite), str(threads), str(batch)]))
                except RuntimeError as e:
                    print(f"skipping {title} batch {batch} threads {threads}: {e}", file=sys.stderr)
                    for w in workers:
                        w.close()
                    continue
                for _ in range(args.rounds):
                    order = workers[:]
                    random.shuffle(order)
                    for w in order:
                        w.measure(args.ms * batch)
                row = {"model": title + (" (wasm32, node)" if wasm else ""), "key": key, "batch": batch, "threads": threads, "runtimes": {}}
                ours = workers[0]
                for w in workers:
                    ratios = [a / b for a, b in zip(ours.rounds, w.rounds)]
                    row["runtimes"][w.name] = {
                        "median_ms": statistics.median(w.samples),
                        "min_ms": min(w.samples),
                        "images_per_s": batch * 1e3 / statistics.median(w.samples),
                        "ratio_ours_over_this": statistics.median(ratios),
                        "peak_rss_mb": w.peak_rss_mb(),
                        "samples": len(w.samples),
                    }
                for w in workers:
                    w.close()
                if batch == 1 and threads == 1 and not args.no_cold and not wasm:
                    row["cold_start"] = cold_start(path, ours_cmd + ["--print-binary"])
                results.append(row)
                print(summary_line(row), file=sys.stderr, flush=True)
    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "bench/compare.sh " + " ".join(sys.argv[1:]).replace(f"--mobilenetc {args.mobilenetc}", "").strip(),
        "machine": machine(),
        "rounds": args.rounds,
        "window_ms": args.ms,
        "results": results,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(doc, f, indent=2)
    md = markdown(doc)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    print(md)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def summary_line(row):
    r = row["runtimes"]
    parts = [f"{n} {v['median_ms']:.2f} ms" for n, v in r.items()]
    return f"{row['model']} b{row['batch']} t{row['threads']}: " + ", ".join(parts)


def markdown(doc):
    lines = [
        f"Measured {doc['date']} with `{doc['command']}` on {doc['machine']}; {doc['rounds']} rounds of "
        f"{doc['window_ms']:.0f} ms (times the batch size) per runtime, in shuffled order. Latency in ms per inference (median, min); "
        "ratio = median over rounds of ours / peer (below 1: ours is faster). Rows marked wasm32: ours built for "
        "wasm32-wasip1 with simd128 and onnxruntime-web's wasm backend (SIMD, one thread), both in node.",
        "",
        "| model | batch | threads | ours | onnxruntime | ratio vs ORT | XNNPACK | ratio vs XNNPACK | peak RSS ours / ORT / XNNPACK (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in doc["results"]:
        r = row["runtimes"]
        cell = lambda n: f"{r[n]['median_ms']:.2f} ({r[n]['min_ms']:.2f})" if n in r else "-"
        ratio = lambda n: f"{r[n]['ratio_ours_over_this']:.2f}" if n in r else "-"
        # wasm32 rows: both in node, the peer is onnxruntime-web (its column is ORT's).
        ort = "onnxruntime-web" if "onnxruntime-web" in r else "onnxruntime"
        rss = " / ".join(f"{r[n]['peak_rss_mb']:.0f}" if n in r and r[n]["peak_rss_mb"] else "-" for n in ["ours", ort, "xnnpack"])
        lines.append(
            f"| {row['model']} | {row['batch']} | {row['threads']} | {cell('ours')} | {cell(ort)} | {ratio(ort)} "
            f"| {cell('xnnpack')} | {ratio('xnnpack')} | {rss} |"
        )
    tp = [row for row in doc["results"] if row["batch"] > 1]
    if tp:
        lines += ["", "Throughput at batch > 1 (images/s, from the median latency):", ""]
        lines += ["| model | batch | threads | ours | onnxruntime | ours / ORT | XNNPACK |", "|---|---|---|---|---|---|---|"]
        for row in tp:
            r = row["runtimes"]
            x = f"{r['xnnpack']['images_per_s']:.0f}" if "xnnpack" in r else "-"
            lines.append(
                f"| {row['model']} | {row['batch']} | {row['threads']} | {r['ours']['images_per_s']:.0f} | {r['onnxruntime']['images_per_s']:.0f} "
                f"| {1 / r['onnxruntime']['ratio_ours_over_this']:.2f} | {x} |"
            )
    cold = [row for row in doc["results"] if "cold_start" in row]
    if cold:
        lines += ["", "Cold start, median of 9 fresh processes each, alternated (ms): ours = spawn to the first line of output (the result; to exit beside), the weights mapped on a helper thread meanwhile; "
                  "onnxruntime = import, session creation and first inference inside an already started Python (its process total beside).", ""]
        lines += ["| model | ours (to first output) | ours (to exit) | onnxruntime (load + first) | ours / ORT | onnxruntime process total |", "|---|---|---|---|---|---|"]
        for row in cold:
            c = row["cold_start"]
            lines.append(
                f"| {row['model']} | {c['ours_first_output_ms']:.1f} | {c['ours_process_ms']:.1f} | {c['ort_load_first_ms']:.1f} "
                f"| {c['ours_first_output_ms'] / c['ort_load_first_ms']:.2f} | {c['ort_process_ms']:.0f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
