#!/usr/bin/env python3
"""Structure-aware generator of small ONNX graphs for the differential fuzzer.

Each case is a short random chain over every operator the compiler supports, with random
attributes (pads, strides, dilations, ceil_mode, groups, axes, opset-dependent forms), random
constants (extremes among them: 0, -0, subnormals, 1e30, inf, NaN) and an input that sometimes
holds NaN and infinities. onnxruntime runs each case twice (all graph optimisations on, and
off); when the two disagree the case says nothing about the compiler and is dropped. Written per
case into OUT: NAME.onnx, NAME.in.npy, and NAME.ort.npy (onnxruntime's output) or NAME.ort_error
(why onnxruntime refused the model).

    python3 fuzz/diff/generate.py OUT --cases 200 --seed 7
"""
import argparse
import os
import random
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

ort.set_default_logger_severity(4)

EXTREMES = [0.0, -0.0, 1e-40, -1e-40, 1e30, -1e30, float("inf"), float("-inf"), float("nan"), 3.0, 6.0, 0.5]
# Inside tensors that may be summed: no huge finite values, whose sums depend on the order of
# the additions (1e30 - 1e30 + x), which neither implementation defines.
TENSOR_EXTREMES = [v for v in EXTREMES if not (np.isfinite(v) and abs(v) > 1e20)]


class Graph:
    def __init__(self, rng, opset):
        self.rng = rng
        self.opset = opset
        self.nodes = []
        self.inits = []
        self.n = 0

    def name(self, base):
        self.n += 1
        return f"{base}{self.n}"

    def const(self, values, dtype=np.float32, name=None):
        name = name or self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def node(self, op, inputs, **attrs):
        out = self.name("t")
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.name(op + "_"), **attrs))
        return out

    def model(self, x_shape, out):
        x = helper.make_tensor_value_info("x", TP.FLOAT, x_shape)
        y = helper.make_tensor_value_info(out, TP.FLOAT, None)
        g = helper.make_graph(self.nodes, "g", [x], [y], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)], producer_name="difffuzz")
        m.ir_version = 7 if self.opset <= 15 else 9
        return m


def weights(rng, shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def pick_const(rng, shape):
    """A constant of `shape`, now and then holding extreme values."""
    v = weights(rng, shape, 1.0)
    if rng.random() < 0.3 and v.size:
        flat = v.reshape(-1)
        for i in rng.choice(flat.size, size=max(1, flat.size // 4), replace=False):
            flat[i] = TENSOR_EXTREMES[rng.integers(len(TENSOR_EXTREMES))]
    return v


def broadcast_shape(rng, s):
    r = len(s)
    options = [[], [1], list(s)]
    if r == 4:
        options += [[s[1], 1, 1], [1, s[1], 1, 1]]
    if r >= 1:
        options.append([s[-1]])
    return options[rng.integers(len(options))]


# ---- one random op on the current tensor (name t, shape s); returns (name, shape) or None ----

def op_conv(g, t, s):
    if len(s) != 4:
        return None
    rng = g.rng
    n, c, h, w = s
    groups = [1, c] + [d for d in range(2, c) if c % d == 0]
    group = groups[rng.integers(len(groups))]
    m = group * int(rng.integers(1, max(2, 9 // group) + 1)) if group > 1 else int(rng.integers(1, 9))
    if group == c and rng.random() < 0.6:
        m = c  # depthwise
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    attrs = {"kernel_shape": [kh, kw], "group": group}
    if rng.random() < 0.5:
        attrs["strides"] = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
    if rng.random() < 0.3:
        attrs["dilations"] = [int(rng.integers(1, 3)), int(rng.integers(1, 3))]
    if rng.random() < 0.25:
        attrs["auto_pad"] = ["SAME_UPPER", "SAME_LOWER", "VALID"][rng.integers(3)]
    else:
        attrs["pads"] = [int(rng.integers(0, 3)) for _ in range(4)]
    inputs = [t, g.const(weights(rng, [m, c // group, kh, kw]))]
    if rng.random() < 0.7:
        inputs.append(g.const(weights(rng, [m])))
    return g.node("Conv", inputs, **attrs), None


def op_batchnorm(g, t, s):
    if len(s) < 2:
        return None
    rng = g.rng
    c = s[1]
    var = np.abs(weights(rng, [c])) + (0.0 if rng.random() < 0.2 else 0.1)
    ins = [t, g.const(weights(rng, [c], 1.0)), g.const(weights(rng, [c])), g.const(weights(rng, [c])), g.const(var)]
    return g.node("BatchNormalization", ins, epsilon=float(rng.choice([1e-5, 1e-3, 0.0]))), s


def op_activation(g, t, s):
    rng = g.rng
    kinds = ["Relu", "Sigmoid", "HardSigmoid", "Clip", "Clip"] + (["HardSwish"] if g.opset >= 14 else [])
    k = kinds[rng.integers(len(kinds))]
    if k == "HardSigmoid":
        return g.node(k, [t], alpha=float(rng.uniform(0.05, 1.0)), beta=float(rng.uniform(-0.5, 1.0))), s
    if k == "Clip":
        lo, hi = float(rng.uniform(-3, 1)), float(rng.uniform(0, 6))
        if g.opset < 11:
            lo, hi = min(lo, hi), max(lo, hi)
            return g.node(k, [t], min=lo, max=hi), s
        if rng.random() < 0.25:
            lo = float(rng.choice([float("nan"), float("-inf"), 2.0]))
        if rng.random() < 0.25:
            hi = float(rng.choice([float("nan"), float("inf"), -1.0]))
        ins = [t]
        if rng.random() < 0.8:
            ins.append(g.const(np.float32(lo)))
        else:
            ins.append("")
        if rng.random() < 0.8:
            ins.append(g.const(np.float32(hi)))
        while ins and ins[-1] == "":
            ins.pop()
        return g.node(k, ins), s
    return g.node(k, [t]), s


def op_binary(g, t, s):
    rng = g.rng
    op = ["Add", "Sub", "Mul", "Div", "Max", "Min"][rng.integers(6)]
    # A computed divisor turns the last-bit differences of two sigmoid approximations into large
    # relative ones (and x / x into 1 or NaN by whether x underflowed): only constant divisors.
    if op == "Div":
        c = EXTREMES[rng.integers(len(EXTREMES))] if rng.random() < 0.5 else pick_const(rng, broadcast_shape(rng, s))
        return g.node(op, [t, g.const(np.asarray(c, dtype=np.float32))]), None
    if rng.random() < 0.2:
        other = t
    else:
        other = g.const(pick_const(rng, broadcast_shape(rng, s)))
    ins = [t, other] if rng.random() < 0.7 else [other, t]
    return g.node(op, ins), None


def op_pool(g, t, s):
    if len(s) != 4:
        return None
    rng = g.rng
    kind = "MaxPool" if rng.random() < 0.5 else "AveragePool"
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    attrs = {"kernel_shape": [kh, kw]}
    if rng.random() < 0.6:
        attrs["strides"] = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
    if rng.random() < 0.2:
        attrs["auto_pad"] = ["SAME_UPPER", "SAME_LOWER", "VALID"][rng.integers(3)]
    elif rng.random() < 0.7:
        attrs["pads"] = [int(rng.integers(0, kh)), int(rng.integers(0, kw)), int(rng.integers(0, kh)), int(rng.integers(0, kw))]
    if rng.random() < 0.4:
        attrs["ceil_mode"] = 1
    if kind == "AveragePool" and rng.random() < 0.5:
        attrs["count_include_pad"] = 1
    if kind == "MaxPool" and g.opset >= 10 and rng.random() < 0.2:
        attrs["dilations"] = [int(rng.integers(1, 3)), int(rng.integers(1, 3))]
    return g.node(kind, [t], **attrs), None


def op_global_pool(g, t, s):
    if len(s) != 4:
        return None
    return g.node("GlobalAveragePool", [t]), [s[0], s[1], 1, 1]


def op_reduce_mean(g, t, s):
    rng = g.rng
    r = len(s)
    axes = sorted(set(int(a) for a in rng.integers(-r, r, size=int(rng.integers(1, r + 1)))), key=lambda a: a % r)
    normalized = {a % r for a in axes}
    if len(normalized) != len(axes):
        axes = sorted(normalized)
    keep = int(rng.integers(0, 2))
    if g.opset >= 18:
        return g.node("ReduceMean", [t, g.const(np.array(axes, dtype=np.int64), np.int64)], keepdims=keep), None
    return g.node("ReduceMean", [t], axes=axes, keepdims=keep), None


def op_reshape(g, t, s):
    rng = g.rng
    k = rng.integers(4)
    if k == 0:
        return g.node("Flatten", [t], axis=int(rng.integers(0, len(s) + 1))), None
    if k == 1:
        shape = [s[0], -1] if rng.random() < 0.5 else [0, -1]
        return g.node("Reshape", [t, g.const(np.array(shape, dtype=np.int64), np.int64)]), None
    if k == 2:
        axes = [int(rng.integers(0, len(s) + 1))]
        if g.opset >= 13:
            return g.node("Unsqueeze", [t, g.const(np.array(axes, dtype=np.int64), np.int64)]), None
        return g.node("Unsqueeze", [t], axes=axes), None
    ones = [i for i, d in enumerate(s) if d == 1]
    if not ones:
        return None
    axes = [ones[rng.integers(len(ones))]]
    if g.opset >= 13:
        return g.node("Squeeze", [t, g.const(np.array(axes, dtype=np.int64), np.int64)]), None
    return g.node("Squeeze", [t], axes=axes), None


def op_torch_reshape(g, t, s):
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as torch exports flatten."""
    if g.opset < 13:
        return None
    sh = g.node("Shape", [t])
    n = g.node("Gather", [sh, g.const(np.array(0, dtype=np.int64), np.int64)], axis=0)
    un = g.node("Unsqueeze", [n, g.const(np.array([0], dtype=np.int64), np.int64)])
    cat = g.node("Concat", [un, g.const(np.array([-1], dtype=np.int64), np.int64)], axis=0)
    return g.node("Reshape", [t, cat]), None


def op_transpose(g, t, s):
    perm = [int(p) for p in g.rng.permutation(len(s))]
    return g.node("Transpose", [t], perm=perm), [s[p] for p in perm]


def op_pad(g, t, s):
    rng = g.rng
    r = len(s)
    pads = [int(rng.integers(-min(d - 1, 2) if d > 1 else 0, 3)) for d in s] + [int(rng.integers(-min(d - 1, 2) if d > 1 else 0, 3)) for d in s]
    pads = [p if s[i % r] + pads[i % r] + pads[i % r + r] > 0 else 0 for i, p in enumerate(pads)]
    value = float(rng.choice([0.0, 1.5, -2.0, float("nan")]))
    if g.opset < 11:
        return g.node("Pad", [t], pads=pads, value=value), None
    ins = [t, g.const(np.array(pads, dtype=np.int64), np.int64), g.const(np.float32(value))]
    return g.node("Pad", ins), None


def op_slice(g, t, s):
    rng = g.rng
    r = len(s)
    axes = [int(a) for a in rng.choice(r, size=int(rng.integers(1, r + 1)), replace=False)]
    starts, ends, steps = [], [], []
    big = 2**63 - 1
    for a in axes:
        d = s[a]
        step = int(rng.choice([1, 1, 2, 3, -1, -2, big, -big]))
        if step > 0:
            st, en = int(rng.integers(-d - 1, d + 1)), int(rng.choice([int(rng.integers(-d, d + 2)), big]))
        else:
            st, en = int(rng.choice([int(rng.integers(-d, d + 1)), big])), int(rng.choice([int(rng.integers(-d - 2, d)), -big]))
        starts.append(st), ends.append(en), steps.append(step)
    if g.opset < 10:
        if any(x != 1 for x in steps):
            return None
        return g.node("Slice", [t], starts=starts, ends=ends, axes=axes), None
    i64 = lambda v: g.const(np.array(v, dtype=np.int64), np.int64)
    return g.node("Slice", [t, i64(starts), i64(ends), i64(axes), i64(steps)]), None


def op_concat(g, t, s):
    rng = g.rng
    axis = int(rng.integers(-len(s), len(s)))
    other = t if rng.random() < 0.5 else g.const(pick_const(rng, s))
    return g.node("Concat", [t, other], axis=axis), None


def op_gather(g, t, s):
    rng = g.rng
    axis = int(rng.integers(0, len(s)))
    d = s[axis]
    if rng.random() < 0.3:
        idx = np.array(int(rng.integers(-d, d)), dtype=np.int64)
    else:
        idx = rng.integers(-d, d, size=int(rng.integers(1, 4))).astype(np.int64)
    return g.node("Gather", [t, g.const(idx, np.int64)], axis=axis), None


def op_softmax(g, t, s):
    axis = int(g.rng.integers(-len(s), len(s)))
    return g.node("Softmax", [t], axis=axis), s


def op_dense(g, t, s):
    rng = g.rng
    if len(s) != 2:
        flat = g.node("Flatten", [t], axis=1)
        k = int(np.prod(s[1:]))
        t, s = flat, [s[0], k]
    k = s[1]
    if k > 512:
        return None
    m = int(rng.integers(1, 9))
    if rng.random() < 0.5:
        return g.node("MatMul", [t, g.const(weights(rng, [k, m]))]), [s[0], m]
    trans_b = int(rng.integers(0, 2))
    w = weights(rng, [m, k] if trans_b else [k, m])
    attrs = {"transB": trans_b, "alpha": float(rng.choice([1.0, 0.5, 2.0])), "beta": float(rng.choice([1.0, 0.25]))}
    ins = [t, g.const(w)]
    if rng.random() < 0.7 or g.opset < 11:
        ins.append(g.const(weights(rng, [m])))
    return g.node("Gemm", ins, **attrs), [s[0], m]


def op_cast(g, t, s):
    rng = g.rng
    # To an integer type and back only on the input itself: after a computation, a value a
    # rounding away from an integer truncates to another one.
    if rng.random() < 0.5 or t != "x":
        return g.node("Cast", [t], to=TP.FLOAT), s
    to = int(rng.choice([TP.INT64, TP.INT32, TP.INT8, TP.UINT8]))
    c = g.node("Cast", [t], to=to)
    return g.node("Cast", [c], to=TP.FLOAT), s


def op_identity(g, t, s):
    return g.node("Identity" if g.rng.random() < 0.5 else "Dropout", [t]), s


OPS = [op_conv, op_conv, op_conv, op_batchnorm, op_activation, op_activation, op_binary, op_binary, op_pool,
       op_global_pool, op_reduce_mean, op_reshape, op_torch_reshape, op_transpose, op_pad, op_slice, op_concat,
       op_gather, op_softmax, op_dense, op_cast, op_identity]


# The ops that take a tensor of rank 0.
SCALAR_OPS = [op_activation, op_binary, op_cast, op_identity]


def output_shape(model, name):
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception:
        return None
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        if vi.name == name:
            dims = vi.type.tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                return [d.dim_value for d in dims]
    return None


def make_case(rng):
    opset = int(rng.choice([11, 12, 13, 14, 17, 18, 19, 21]))
    rank4 = rng.random() < 0.85
    shape = [int(rng.integers(1, 3)), int(rng.integers(1, 9)), int(rng.integers(1, 10)), int(rng.integers(1, 10))] if rank4 \
        else [int(rng.integers(1, 3)), int(rng.integers(1, 17))]
    g = Graph(rng, opset)
    t, s = "x", shape
    for _ in range(int(rng.integers(1, 6))):
        for _attempt in range(6):
            saved = (list(g.nodes), list(g.inits))
            op = OPS[rng.integers(len(OPS))]
            if not s and op not in SCALAR_OPS:
                continue
            r = op(g, t, s)
            if r is None:
                g.nodes, g.inits = saved
                continue
            name, new_shape = r
            new_shape = new_shape or output_shape(g.model(shape, name), name)
            if new_shape is None or any(d < 1 for d in new_shape) or int(np.prod(new_shape)) > 20000 or len(new_shape) > 6:
                g.nodes, g.inits = saved
                continue
            t, s = name, new_shape
            break
    if t == "x":
        t = g.node("Identity", [t])
    x = rng.standard_normal(shape).astype(np.float32) * float(rng.choice([1.0, 3.0]))
    # No NaN or infinity where a MaxPool could meet one (see `ill_conditioned`): fewer cases lost.
    if any(n.op_type == "MaxPool" for n in g.nodes):
        for init in g.inits:
            v = numpy_helper.to_array(init)
            if v.dtype == np.float32 and not np.all(np.isfinite(v)):
                init.CopyFrom(numpy_helper.from_array(np.nan_to_num(v, nan=1.0, posinf=2.0, neginf=-2.0), init.name))
        return g.model(shape, t), x
    if rng.random() < 0.2:
        flat = x.reshape(-1)
        for i in rng.choice(flat.size, size=max(1, flat.size // 30), replace=False):
            flat[i] = float(rng.choice([float("nan"), float("inf"), float("-inf")]))
    return g.model(shape, t), x


def run_ort(model, x, level):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = level
    opts.intra_op_num_threads = 1
    s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    outs = s.run(None, {"x": x})
    return outs if len(outs) > 1 else outs[0]


def ill_conditioned(model, x):
    """Whether the case says nothing about the compiler, by every intermediate value onnxruntime
    computes: a finite value near overflow (1e30 and more), whose sums depend on the order of
    the additions, or a NaN or -inf reaching a MaxPool, where onnxruntime's own kernels disagree
    (its vectorised path keeps a NaN met first and starts interior windows from their first
    value, its scalar path skips NaN and starts from the lowest finite float)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = [n.output[0] for n in model.graph.node]
    del probe.graph.output[:]
    for name in names:
        probe.graph.output.add().name = name
    try:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        values = dict(zip(names, session.run(None, {"x": x})))
    except Exception:
        return True
    values["x"] = x
    for v in values.values():
        if v.dtype.kind == "f" and np.any(np.isfinite(v) & (np.abs(v) > 1e30)):
            return True
    for n in model.graph.node:
        v = values.get(n.input[0])
        if n.op_type == "MaxPool" and v is not None and (np.isnan(v).any() or np.isneginf(v).any()):
            return True
    return False


def same(a, b):
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    a, b = a.astype(np.float64).reshape(-1), b.astype(np.float64).reshape(-1)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return False
    fin = np.isfinite(b)
    if not np.array_equal(a[~fin & ~np.isnan(b)], b[~fin & ~np.isnan(b)]):
        return False
    scale = np.abs(b[fin]).max(initial=1.0)
    return bool(np.all(np.abs(a[fin] - b[fin]) <= 1e-4 * scale + 1e-5))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = np.random.default_rng(seed)
    kept = dropped = 0
    for i in range(args.cases):
        try:
            model, x = make_case(rng)
        except Exception as e:  # a generator bug loses one case, not the run
            print(f"generate.py: case {i} not made: {e!r}", file=sys.stderr)
            continue
        name = f"s{seed}_{i}"
        try:
            y = run_ort(model, x, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        except Exception as e:
            y = None
            err = str(e).splitlines()[0][:300]
        if y is not None:
            try:
                y_opt = run_ort(model, x, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
            except Exception:
                y_opt = None
            if y.dtype != np.float32 or y_opt is None or not same(y_opt, y):
                dropped += 1  # onnxruntime disagrees with itself: implementation-defined
                continue
            if ill_conditioned(model, x):
                dropped += 1
                continue
        onnx.save(model, os.path.join(args.out, name + ".onnx"))
        np.save(os.path.join(args.out, name + ".in.npy"), x)
        if y is not None:
            np.save(os.path.join(args.out, name + ".ort.npy"), y)
        else:
            with open(os.path.join(args.out, name + ".ort_error"), "w") as f:
                f.write(err + "\n")
        kept += 1
    print(f"generate.py: seed {seed}: {kept} cases written, {dropped} dropped (onnxruntime optimised and not disagree, or ill-conditioned)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
