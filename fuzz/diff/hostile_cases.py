#!/usr/bin/env python3
"""Hand-made cases for the classes of hostile input the compiler once got wrong, written in the
differential fuzzer's format (NAME.onnx, NAME.in.npy, and onnxruntime's NAME.ort.npy or
NAME.ort_error) into fuzz/regressions/diff/, which `cargo test` replays
(tests/tests/diff_regressions.rs). Cases named `agree_*` must give onnxruntime's output; the
others must give it or be refused, and be refused wherever onnxruntime refuses them.

    fuzz/diff/.venv/bin/python fuzz/diff/hostile_cases.py   # after fuzz/diff/run.sh made the venv
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

ort.set_default_logger_severity(4)
OUT = os.path.join(os.path.dirname(__file__), "..", "regressions", "diff")
NAN, INF = float("nan"), float("inf")


def model(nodes, inits, shape, opset=13, out="y"):
    x = helper.make_tensor_value_info("x", TP.FLOAT, shape)
    y = helper.make_tensor_value_info(out, TP.FLOAT, None)
    m = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="hostile_cases")
    m.ir_version = 7 if opset <= 15 else 9
    return m


def const(name, values, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def write(name, m, x):
    path = os.path.join(OUT, name)
    for ext in (".ort.npy", ".ort_error"):
        if os.path.exists(path + ext):
            os.remove(path + ext)
    onnx.save(m, path + ".onnx")
    np.save(path + ".in.npy", x)
    try:
        s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        np.save(path + ".ort.npy", s.run(None, {"x": x})[0])
    except Exception as e:
        with open(path + ".ort_error", "w") as f:
            f.write(str(e).splitlines()[0][:300] + "\n")


def specials(shape):
    x = np.linspace(-8, 8, int(np.prod(shape))).astype(np.float32).reshape(shape)
    flat = x.reshape(-1)
    flat[:6] = [NAN, INF, -INF, 0.0, -0.0, 1e-40]
    return x


def main():
    os.makedirs(OUT, exist_ok=True)
    x4 = specials([1, 2, 4, 4])
    # NaN stays NaN through Relu, Clip and Max; a NaN Clip bound is no bound; a missing one is
    # the largest finite float.
    write("agree_relu_nan", model([helper.make_node("Relu", ["x"], ["y"])], [], [1, 2, 4, 4]), x4)
    for name, lo, hi in [("nan_min", NAN, 1.0), ("nan_max", 0.0, NAN), ("min_only", -1.0, None), ("min_gt_max", 2.0, 1.0)]:
        ins = ["x", "lo"] + (["hi"] if hi is not None else [])
        inits = [const("lo", lo)] + ([const("hi", hi)] if hi is not None else [])
        write(f"agree_clip_{name}", model([helper.make_node("Clip", ins, ["y"])], inits, [1, 2, 4, 4]), x4)
    write("agree_max_nan", model([helper.make_node("Max", ["x", "c"], ["y"])], [const("c", [0.0])], [1, 2, 4, 4]), x4)
    write("agree_max_nan_bound", model([helper.make_node("Max", ["x", "c"], ["y"])], [const("c", [NAN])], [1, 2, 4, 4]), x4)
    # Relu and Clip fused into a convolution keep NaN too.
    w = np.ones([2, 2, 1, 1], np.float32)
    write("agree_conv_relu6_nan", model([helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Clip", ["c", "lo", "hi"], ["y"])],
                                        [const("w", w), const("lo", 0.0), const("hi", 6.0)], [1, 2, 4, 4]), x4)
    # ceil_mode: the last window would start in the end padding, and is dropped.
    x5 = np.arange(16, dtype=np.float32).reshape([1, 1, 4, 4])
    for kind in ("MaxPool", "AveragePool"):
        n = helper.make_node(kind, ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1], ceil_mode=1)
        write(f"agree_{kind.lower()}_ceil_mode", model([n], [], [1, 1, 4, 4]), x5)
    # A Slice step of i64::MAX takes one element.
    big = 2**63 - 1
    n = helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])
    write("agree_slice_step_max", model([n], [const("s", [0], np.int64), const("e", [big], np.int64),
                                              const("a", [3], np.int64), const("st", [big], np.int64)], [1, 1, 4, 4]), x5)
    # Cast to int8 wraps integers (300 -> 44); back to float.
    n1 = helper.make_node("Cast", ["c"], ["c8"], to=TP.INT8)
    n2 = helper.make_node("Cast", ["c8"], ["cf"], to=TP.FLOAT)
    n3 = helper.make_node("Add", ["x", "cf"], ["y"])
    write("agree_cast_int8_wraps", model([n1, n2, n3], [const("c", [300, -200, 127, 128], np.int64)], [1, 4]),
          np.zeros([1, 4], np.float32))
    # Division by a constant whose reciprocal is not exact (1e-40: 1/c overflows), by 0 and -0,
    # by 6 (the hard-swish divisor) and by 0.5 (exact: becomes a multiplication).
    for name, c in [("subnormal", 1e-40), ("zero", 0.0), ("neg_zero", -0.0), ("six", 6.0), ("half", 0.5)]:
        write(f"agree_div_{name}", model([helper.make_node("Div", ["x", "c"], ["y"])], [const("c", c)], [1, 2, 4, 4]), x4)
    # Div by zero after a conv (not folded into its weights: 0 * inf would make NaN).
    n = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Div", ["c", "z"], ["y"])]
    write("agree_conv_div_zero", model(n, [const("w", w), const("z", 0.0)], [1, 2, 4, 4]), x5.repeat(2, axis=1) - 7)
    # A convolution with no output channels before a BatchNormalization (onnxruntime runs it).
    n = [helper.make_node("Conv", ["x", "w0"], ["c"]), helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"])]
    inits = [const("w0", np.zeros([0, 2, 1, 1])), const("s", np.zeros([0])), const("b", np.zeros([0])),
             const("m", np.zeros([0])), const("v", np.ones([0]))]
    write("conv_no_channels_batchnorm", model(n, inits, [1, 2, 4, 4]), x4)
    # onnxruntime refuses all of these; so must the compiler.
    write("gather_index_out_of_range", model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)],
                                              [const("i", [5], np.int64)], [1, 2, 4, 4]), x4)
    write("reduce_mean_repeated_axis", model([helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 2])], [], [1, 2, 4, 4]), x4)
    write("pad_overflows", model([helper.make_node("Pad", ["x", "p"], ["y"])],
                                 [const("p", [0, 0, 2**62, 0, 0, 0, 2**62, 0], np.int64)], [1, 2, 4, 4]), x4)
    write("conv_double_weight", model([helper.make_node("Conv", ["x", "w"], ["y"])], [const("w", w, np.float64)], [1, 2, 4, 4]), x4)
    n = helper.make_node("Slice", ["x", "s", "e", "a"], ["y"])
    write("slice_repeated_axis", model([n], [const("s", [0, 1], np.int64), const("e", [2, 3], np.int64),
                                             const("a", [2, 2], np.int64)], [1, 2, 4, 4]), x4)
    n = helper.make_node("HardSigmoid", ["x"], ["y"])
    a = n.attribute.add()
    a.name, a.f = "alpha", 0.3  # no type: UNDEFINED
    write("attribute_without_type", model([n], [], [1, 2, 4, 4]), x4)
    write("relu_opset_1", model([helper.make_node("Relu", ["x"], ["y"])], [], [1, 2, 4, 4], opset=1), x4)
    write("clip6_min_above_max", model([helper.make_node("Clip", ["x"], ["y"], min=2.0, max=1.0)], [], [1, 2, 4, 4], opset=6), x4)
    write("hardswish_opset_13", model([helper.make_node("HardSwish", ["x"], ["y"])], [], [1, 2, 4, 4], opset=13), x4)
    write("unknown_attribute", model([helper.make_node("Relu", ["x"], ["y"], alpha=1.0)], [], [1, 2, 4, 4]), x4)
    write("conv_dilated_same", model([helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", dilations=[2, 2])],
                                     [const("w", np.ones([2, 2, 3, 3]))], [1, 2, 4, 4]), x4)
    print("wrote the hostile cases into", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
