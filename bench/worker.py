"""A benchmark worker for a peer runtime, speaking the protocol of our generated runners:
`ready` once warm; for each `time MS` line, back-to-back inferences for MS ms answered with a
JSON list of durations (ms); `quit` ends. `cold` mode instead times model load plus the first
inference in-process and prints them as JSON.

    python worker.py ort MODEL.onnx THREADS BATCH [cold]
    python worker.py tflite MODEL.tflite THREADS BATCH [cold]
"""
import json
import sys
import time

import numpy as np


def load(kind, path, threads, batch):
    if kind == "ort":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        shape = [batch if i == 0 else d for i, d in enumerate(inp.shape)]
        if not all(isinstance(d, int) for d in shape):
            raise SystemExit(f"{path}: input {inp.shape} has symbolic dimensions besides the batch")
        x = np.full(shape, 128, np.uint8) if inp.type == "tensor(uint8)" else np.full(shape, 0.5, np.float32)
        feeds = {inp.name: x}
        return lambda: sess.run(None, feeds)
    if kind == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=path, num_threads=threads)
        detail = it.get_input_details()[0]
        if batch != detail["shape"][0]:
            it.resize_tensor_input(detail["index"], [batch] + list(detail["shape"][1:]))
        it.allocate_tensors()
        detail = it.get_input_details()[0]
        dtype = detail["dtype"]
        x = np.full(detail["shape"], 128 if dtype == np.uint8 else 0 if dtype == np.int8 else 0.5, dtype)
        idx = detail["index"]

        def run():
            it.set_tensor(idx, x)
            it.invoke()

        return run
    raise SystemExit(f"unknown kind {kind}")


def main():
    kind, path, threads, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if len(sys.argv) > 5 and sys.argv[5] == "cold":
        t0 = time.perf_counter()
        run = load(kind, path, threads, batch)
        t1 = time.perf_counter()
        run()
        t2 = time.perf_counter()
        print(json.dumps({"load_ms": (t1 - t0) * 1e3, "first_ms": (t2 - t1) * 1e3}))
        return
    run = load(kind, path, threads, batch)
    for _ in range(10):
        run()
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["quit"]:
            break
        ms = float(words[1])
        times = []
        start = time.perf_counter()
        while not times or (time.perf_counter() - start) * 1e3 < ms:
            t = time.perf_counter()
            run()
            times.append((time.perf_counter() - t) * 1e3)
        print(json.dumps(times), flush=True)


if __name__ == "__main__":
    main()
