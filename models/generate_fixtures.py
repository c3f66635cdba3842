#!/usr/bin/env python3
"""Generates the project's own small ONNX fixtures and their onnxruntime reference outputs.

Each fixture is a tiny MobileNet-shaped graph (random weights, fixed seeds) written the way a
real exporter writes it: torch (legacy and new), tf2onnx from Keras (NHWC), Paddle2ONNX, and old
opsets. Together they exercise every spelling the compiler's importer and passes handle, so the
test suite stays meaningful where ../shared/models is absent.

    python3 -m venv .venv && .venv/bin/pip install -r models/requirements.txt
    .venv/bin/python models/generate_fixtures.py        # rewrites models/fixtures/

The output is committed; tests never run this script.
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
MANIFEST = []  # entries of fixtures.toml, in the format of ../shared/models/models.toml


class Builder:
    """A few helpers over onnx.helper that keep the fixture definitions short."""

    def __init__(self, name, opset, seed):
        self.name = name
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.count = 0
        self.constant_nodes = []  # Paddle style: weights as Constant nodes, listed after use

    def fresh(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def weight(self, arr, stem="w", as_constant_node=False):
        name = self.fresh(stem)
        tensor = numpy_helper.from_array(np.asarray(arr), name)
        if as_constant_node:
            self.constant_nodes.append(helper.make_node("Constant", [], [name], name=f"Constant@{name}", value=tensor))
        else:
            self.inits.append(tensor)
        return name

    def node(self, op, inputs, name=None, **attrs):
        out = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=name or self.fresh(op), **attrs))
        return out

    def conv_weights(self, cin, cout, k, group=1):
        fan_in = (cin // group) * k[0] * k[1]
        return (self.rng.standard_normal((cout, cin // group, k[0], k[1])) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def conv(self, x, cin, cout, k=(1, 1), stride=(1, 1), pads=None, group=1, bias=True, const_nodes=False, **extra):
        k = tuple(k) if isinstance(k, (tuple, list)) else (k, k)
        stride = tuple(stride) if isinstance(stride, (tuple, list)) else (stride, stride)
        if pads is None and "auto_pad" not in extra:
            pads = [k[0] // 2, k[1] // 2, k[0] // 2, k[1] // 2]
        inputs = [x, self.weight(self.conv_weights(cin, cout, k, group), "conv_w", const_nodes)]
        if bias:
            inputs.append(self.weight((self.rng.standard_normal(cout) * 0.1).astype(np.float32), "conv_b", const_nodes))
        attrs = dict(kernel_shape=list(k), strides=list(stride), group=group, **extra)
        if pads is not None:
            attrs["pads"] = pads
        return self.node("Conv", inputs, **attrs)

    def bn(self, x, c, const_nodes=False):
        r = self.rng
        params = [
            r.uniform(0.5, 1.5, c), r.standard_normal(c) * 0.1,
            r.standard_normal(c) * 0.1, r.uniform(0.5, 1.5, c),
        ]
        names = [self.weight(p.astype(np.float32), s, const_nodes) for p, s in zip(params, ["bn_scale", "bn_bias", "bn_mean", "bn_var"])]
        return self.node("BatchNormalization", [x] + names, epsilon=1e-5)

    def scalar(self, v, dtype=np.float32, const_node=False):
        return self.weight(np.array(v, dtype=dtype), "k", const_node)

    def relu6_inputs(self, x):
        return self.node("Clip", [x, self.scalar(0.0), self.scalar(6.0)])

    def gemm(self, x, k, n, trans_b=True):
        w = (self.rng.standard_normal((n, k) if trans_b else (k, n)) * np.sqrt(1.0 / k)).astype(np.float32)
        b = (self.rng.standard_normal(n) * 0.1).astype(np.float32)
        return self.node("Gemm", [x, self.weight(w, "fc_w"), self.weight(b, "fc_b")], transB=int(trans_b))

    def save(self, inputs, outputs, input_data, external_data=False, producer="mobilenet-aot fixtures"):
        graph = helper.make_graph(self.nodes + self.constant_nodes, self.name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)], producer_name=producer)
        model.ir_version = min(model.ir_version, 9)
        path = os.path.join(OUT, f"{self.name}.onnx")
        if external_data:
            data_file = f"{self.name}.onnx.data"
            if os.path.exists(os.path.join(OUT, data_file)):
                os.remove(os.path.join(OUT, data_file))
            onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=data_file, size_threshold=128)
            os.chmod(os.path.join(OUT, data_file), 0o644)
        else:
            onnx.save_model(model, path)
        # Constant nodes after their users are what Paddle writes; the checker wants sorted graphs.
        if not self.constant_nodes:
            onnx.checker.check_model(path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        out = sess.run(None, {inputs[0].name: input_data})[0].astype(np.float32)
        np.save(os.path.join(OUT, f"{self.name}.ref_in.npy"), input_data.astype(np.float32))
        np.save(os.path.join(OUT, f"{self.name}.ref_out.npy"), out)
        ops = {}
        for n in model.graph.node:
            ops[n.op_type] = ops.get(n.op_type, 0) + 1
        MANIFEST.append({
            "path": f"{self.name}.onnx", "producer": producer, "opset": self.opset,
            "input": (inputs[0].name, list(input_data.shape)), "output_shape": list(out.shape),
            "reference_input": f"{self.name}.ref_in.npy", "reference_output": f"{self.name}.ref_out.npy",
            "top1": int(out.reshape(-1).argmax()), "ops": ops,
        })
        return out


def tensor_info(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def inverted_residual(b, x, cin, cout, expand, k=3, stride=1, act="relu6", se=False, bn=False, residual=True):
    """expand 1x1 -> depthwise kxk -> (SE) -> project 1x1 (+ residual)."""
    hidden = cin * expand

    def activate(y):
        if act == "relu6":
            return b.relu6_inputs(y)
        if act == "hardswish":
            return b.node("HardSwish", [y])
        if act == "hsig_mul":
            return b.node("Mul", [y, b.node("HardSigmoid", [y], alpha=1.0 / 6.0)])
        return b.node("Relu", [y])

    def conv_bn(y, ci, co, **kw):
        if bn:
            return b.bn(b.conv(y, ci, co, bias=False, **kw), co)
        return b.conv(y, ci, co, **kw)

    y = activate(conv_bn(x, cin, hidden))
    y = activate(conv_bn(y, hidden, hidden, k=k, stride=stride, group=hidden))
    if se:
        s = b.node("GlobalAveragePool", [y])
        s = b.node("Relu", [b.conv(s, hidden, max(hidden // 4, 1))])
        s = b.node("HardSigmoid", [b.conv(s, max(hidden // 4, 1), hidden)], alpha=1.0 / 6.0)
        y = b.node("Mul", [y, s])
    y = conv_bn(y, hidden, cout)
    if residual and stride == 1 and cin == cout:
        y = b.node("Add", [x, y])
    return y


def torch_legacy_v2():
    """torch.onnx legacy exporter, opset 13: Clip with constant inputs, BatchNorm left unfolded,
    a Shape/Gather/Unsqueeze/Concat/Reshape flatten, symbolic batch."""
    b = Builder("torch_v2_like.dynbatch.op13", 13, 11)
    y = b.relu6_inputs(b.bn(b.conv("input", 3, 16, k=3, stride=2, bias=False), 16))
    y = inverted_residual(b, y, 16, 16, 1, bn=True, residual=False)
    y = inverted_residual(b, y, 16, 24, 6, stride=2, bn=True)
    y = inverted_residual(b, y, 24, 24, 6, bn=True)
    y = b.node("GlobalAveragePool", [y])
    shape = b.node("Shape", [y])
    batch = b.node("Gather", [shape, b.scalar(0, np.int64)], axis=0)
    target = b.node("Concat", [b.node("Unsqueeze", [batch, b.weight(np.array([0], np.int64), "axes")]),
                               b.weight(np.array([-1], np.int64), "minus_one")], axis=0)
    y = b.node("Reshape", [y, target])
    y = b.gemm(y, 24, 10)
    b.nodes[-1].output[0] = "logits"
    x = b.rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    b.save([tensor_info("input", ["batch", 3, 32, 32])], [tensor_info("logits", ["batch", 10])], x)


def old_opset_v1():
    """Opset 10: Clip and Pad bounds as attributes, Squeeze/Unsqueeze axes as attributes,
    BatchNormalization, Dropout, AveragePool with padding, Softmax coercing to 2-D."""
    b = Builder("old_opset_v1_like.op10", 10, 12)
    y = b.node("Pad", ["input"], pads=[0, 0, 1, 1, 0, 0, 1, 1], mode="constant", value=0.0)
    y = b.node("Clip", [b.bn(b.conv(y, 3, 8, k=3, stride=2, pads=[0, 0, 0, 0], bias=False), 8)], min=0.0, max=6.0)
    y = b.node("Relu", [b.conv(y, 8, 8, k=3, group=8)])
    y = b.node("Clip", [b.conv(y, 8, 16)], min=-1.0, max=4.0)
    y = b.node("AveragePool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)
    y = b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    y = b.node("Dropout", [y], ratio=0.5)
    y = b.node("GlobalAveragePool", [y])
    y = b.node("Squeeze", [y], axes=[2, 3])
    y = b.node("Unsqueeze", [y], axes=[2])
    y = b.node("Flatten", [y], axis=1)
    y = b.gemm(y, 16, 5)
    y = b.node("Softmax", [y], axis=1)
    b.nodes[-1].output[0] = "prob"
    x = b.rng.standard_normal((1, 3, 30, 30)).astype(np.float32)
    b.save([tensor_info("input", [1, 3, 30, 30])], [tensor_info("prob", [1, 5])], x)


def v3_hardswish():
    """Opset 14: the HardSwish op, x*HardSigmoid(x), SE blocks, 5x5 depthwise, ReduceMean with
    an axes attribute, Sigmoid, hard-swish after a Gemm."""
    b = Builder("v3_like.op14", 14, 13)
    y = b.node("HardSwish", [b.conv("input", 3, 16, k=3, stride=2)])
    y = inverted_residual(b, y, 16, 16, 1, k=3, act="relu", se=True, residual=False)
    y = inverted_residual(b, y, 16, 24, 4, k=5, stride=2, act="hsig_mul", se=True)
    y = inverted_residual(b, y, 24, 24, 3, k=5, act="hardswish", se=True)
    y = b.node("Sigmoid", [b.conv(y, 24, 32)])
    y = b.node("ReduceMean", [y], axes=[2, 3], keepdims=0)
    g = b.gemm(y, 32, 16)
    y = b.node("Mul", [g, b.node("HardSigmoid", [g], alpha=1.0 / 6.0)])
    y = b.gemm(y, 16, 7)
    b.nodes[-1].output[0] = "logits"
    x = b.rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    b.save([tensor_info("input", [1, 3, 32, 32])], [tensor_info("logits", [1, 7])], x)


def paddle_like():
    """Paddle2ONNX style, opset 11: weights as Constant nodes listed after their users,
    BatchNorm unfolded, hard-swish spelled x*Clip(x+3,0,6)/6, stride (2,1), symbolic H and W,
    a Shape/Cast/Slice/Concat/Reshape flatten, MaxPool, MatMul + Add, Identity at the end."""
    b = Builder("paddle_like.dynhw.op11", 11, 14)

    def hswish(y):
        three = b.scalar(3.0, const_node=True)
        clipped = b.node("Clip", [b.node("Add", [y, three]), b.scalar(0.0, const_node=True), b.scalar(6.0, const_node=True)])
        return b.node("Div", [b.node("Mul", [y, clipped]), b.scalar(6.0, const_node=True)])

    y = hswish(b.bn(b.conv("x", 3, 8, k=3, stride=2, bias=False, const_nodes=True), 8, const_nodes=True))
    y = b.node("Relu", [b.bn(b.conv(y, 8, 16, bias=False, const_nodes=True), 16, const_nodes=True)])
    y = hswish(b.bn(b.conv(y, 16, 16, k=5, stride=(2, 1), group=16, bias=False, const_nodes=True), 16, const_nodes=True))
    s = b.node("GlobalAveragePool", [y])
    s = b.node("Conv", [s, b.weight(b.conv_weights(16, 4, (1, 1)), "se_w", True)], kernel_shape=[1, 1])
    bias = b.node("Reshape", [b.weight(np.full(4, 0.1, np.float32), "se_b", True), b.weight(np.array([1, -1, 1, 1], np.int64), "shape", True)])
    s = b.node("Relu", [b.node("Add", [s, bias])])
    s = b.node("Conv", [s, b.weight(b.conv_weights(4, 16, (1, 1)), "se_w2", True)], kernel_shape=[1, 1])
    s = b.node("HardSigmoid", [s], alpha=0.2, beta=0.5)
    y = b.node("Mul", [y, s])
    z = b.bn(b.conv(y, 16, 16, bias=False, const_nodes=True), 16, const_nodes=True)
    y = b.node("Add", [y, z])
    y = b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = b.node("GlobalAveragePool", [y])
    shape = b.node("Cast", [b.node("Shape", [y])], to=TensorProto.INT32)
    first = b.node("Slice", [shape, b.weight(np.array([0], np.int64), "s", True), b.weight(np.array([1], np.int64), "e", True),
                             b.weight(np.array([0], np.int64), "a", True), b.weight(np.array([1], np.int64), "st", True)])
    target = b.node("Concat", [b.node("Cast", [first], to=TensorProto.INT64),
                               b.node("Cast", [b.weight(np.array([16], np.int32), "n", True)], to=TensorProto.INT64)], axis=-1)
    y = b.node("Reshape", [y, target])
    y = b.node("MatMul", [y, b.weight((b.rng.standard_normal((16, 2)) * 0.5).astype(np.float32), "fc_w", True)])
    y = b.node("Add", [y, b.weight(np.array([0.1, -0.1], np.float32), "fc_b", True)])
    y = b.node("Softmax", [y], axis=1)
    b.nodes.append(helper.make_node("Identity", [y], ["save_infer_model/scale_0.tmp_1"], name="Identity@0"))
    x = b.rng.standard_normal((1, 3, 16, 24)).astype(np.float32)
    b.save([tensor_info("x", [-1, 3, "?", "?"])], [tensor_info("save_infer_model/scale_0.tmp_1", [-1, 2])], x,
           producer="PaddlePaddle")


def keras_like():
    """tf2onnx from Keras, opset 13: NHWC input and a Transpose, BatchNorm as Mul+Add, Relu6 as
    Max then Min, auto_pad SAME_UPPER and SAME_LOWER, Pad + VALID stride-2 depthwise, asymmetric
    pads, a Transpose pair that cancels, Squeeze with an axes input, MatMul + Softmax."""
    b = Builder("keras_like.nhwc.op13", 13, 15)
    y = b.node("Transpose", ["keras_tensor"], perm=[0, 3, 1, 2])

    def bn_affine(y, c):
        scale = b.weight(b.rng.uniform(0.5, 1.5, (1, c, 1, 1)).astype(np.float32), "bn_mul")
        shift = b.weight((b.rng.standard_normal((c, 1, 1)) * 0.1).astype(np.float32), "bn_add")
        return b.node("Add", [b.node("Mul", [y, scale]), shift])

    def relu6(y):
        return b.node("Min", [b.node("Max", [y, b.scalar(0.0)]), b.scalar(6.0)])

    y = relu6(b.conv(y, 3, 8, k=3, stride=2, pads=[0, 0, 1, 1]))
    y = relu6(bn_affine(b.conv(y, 8, 8, k=3, group=8, bias=False, pads=None, auto_pad="SAME_UPPER"), 8))
    y = b.conv(y, 8, 16)
    y = b.node("Pad", [y, b.weight(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "pads")])
    y = relu6(bn_affine(b.conv(y, 16, 16, k=3, stride=2, group=16, bias=False, pads=[0, 0, 0, 0]), 16))
    y = b.node("Transpose", [y], perm=[0, 2, 3, 1])
    y = b.node("Transpose", [y], perm=[0, 3, 1, 2])
    y = b.node("Relu", [b.conv(y, 16, 12, k=(3, 2), stride=2, pads=None, auto_pad="SAME_LOWER")])
    y = b.node("GlobalAveragePool", [y])
    y = b.node("Squeeze", [y, b.weight(np.array([2, 3], np.int64), "axes")])
    y = b.node("MatMul", [y, b.weight((b.rng.standard_normal((12, 6)) * 0.4).astype(np.float32), "fc")])
    y = b.node("Softmax", [y])
    b.nodes[-1].output[0] = "output_0"
    x = b.rng.standard_normal((1, 27, 27, 3)).astype(np.float32)
    b.save([tensor_info("keras_tensor", ["unk__1", 27, 27, 3])], [tensor_info("output_0", ["unk__2", 6])], x,
           producer="tf2onnx")


def torch_new_external():
    """torch.onnx dynamo-style, opset 18, weights in an external .onnx.data file: ReduceMean with
    an axes input, a 7x7 dilated conv, grouped (not depthwise) conv, Sub/Div by constants, a
    residual Add followed by Relu, Concat and Slice on channels, Reshape with allowzero."""
    b = Builder("torch_new_external.op18", 18, 16)
    y = b.node("Div", [b.node("Sub", ["x", b.scalar(0.5)]), b.scalar(0.25)])
    y = b.node("Relu", [b.conv(y, 3, 8, k=7, stride=2, pads=[3, 3, 3, 3])])
    d = b.conv(y, 8, 8, k=3, dilations=[2, 2], pads=[2, 2, 2, 2])
    y = b.node("Relu", [b.node("Add", [d, y])])
    g = b.node("Relu", [b.conv(y, 8, 8, k=3, group=2)])
    y = b.node("Concat", [y, g], axis=1)
    y = b.node("Slice", [y, b.weight(np.array([4], np.int64), "st"), b.weight(np.array([14], np.int64), "en"),
                          b.weight(np.array([1], np.int64), "ax")])
    y = b.node("ReduceMean", [y, b.weight(np.array([-1, -2], np.int64), "axes")], keepdims=1)
    y = b.node("Reshape", [y, b.weight(np.array([1, 10], np.int64), "shape")], allowzero=1)
    y = b.gemm(y, 10, 4)
    b.nodes[-1].output[0] = "linear"
    x = b.rng.standard_normal((1, 3, 28, 28)).astype(np.float32)
    b.save([tensor_info("x", [1, 3, 28, 28])], [tensor_info("linear", [1, 4])], x, external_data=True,
           producer="pytorch")


def write_manifest():
    lines = [
        "# The project's own fixtures, generated by ../generate_fixtures.py (same format as",
        "# ../../shared/models/models.toml). reference_output is onnxruntime's output.",
        "",
    ]
    for m in MANIFEST:
        name, shape = m["input"]
        ops = ", ".join(f'"{k}" = {v}' for k, v in sorted(m["ops"].items()))
        lines += [
            "[[model]]",
            f'path = "{m["path"]}"',
            f'producer = "{m["producer"]}"',
            f'opset = {m["opset"]}',
            f'input = {{ name = "{name}", shape = {shape} }}',
            f'output_shape = {m["output_shape"]}',
            f'reference_input = "{m["reference_input"]}"',
            f'reference_output = "{m["reference_output"]}"  # onnxruntime {ort.__version__} CPU',
            f'top1 = {m["top1"]}',
            f"ops = {{ {ops} }}",
            "",
        ]
    with open(os.path.join(OUT, "fixtures.toml"), "w") as f:
        f.write("\n".join(lines))


def main():
    os.makedirs(OUT, exist_ok=True)
    for make in [torch_legacy_v2, old_opset_v1, v3_hardswish, paddle_like, keras_like, torch_new_external]:
        make()
        print("wrote", make.__name__, file=sys.stderr)
    write_manifest()


if __name__ == "__main__":
    main()
