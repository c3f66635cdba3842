#!/usr/bin/env python3
"""Writes small quantised MobileNet-like models into fuzz/corpus/compile (named by the SHA-1 of
their bytes, as libFuzzer names its corpus): a float block (conv, depthwise, residual add,
global pool, Gemm) quantised by onnxruntime's quantize_static as QDQ and as QOperator, per
tensor and per channel, so that the fuzzer mutates the int8 import, fusion and kernels too.

    python fuzz/seeds/int8_seeds.py    # needs onnx, onnxruntime, numpy
"""
import hashlib
import os
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus", "compile")


def float_model(rng):
    def init(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name)

    nodes = [
        helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c0"], ["r0"]),
        helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8),
        helper.make_node("Clip", ["c1", "lo", "hi"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["c2", "r0"], ["a"]),
        helper.make_node("GlobalAveragePool", ["a"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], transB=1),
    ]
    inits = [
        init("w0", 8, 3, 3, 3), init("b0", 8), init("w1", 8, 1, 3, 3), init("b1", 8), init("w2", 8, 8, 1, 1),
        init("b2", 8), init("w3", 5, 8), init("b3", 5),
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"), numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
    ]
    graph = helper.make_graph(
        nodes, "seed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


class Reader(CalibrationDataReader):
    def __init__(self, rng):
        self.data = iter([{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(4)])

    def get_next(self):
        return next(self.data, None)


def main():
    os.makedirs(CORPUS, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "float.onnx")
        for fmt in (QuantFormat.QDQ, QuantFormat.QOperator):
            for per_channel in (False, True):
                for wtype in (QuantType.QInt8, QuantType.QUInt8):
                    rng = np.random.default_rng(7)
                    onnx.save(float_model(rng), src)
                    dst = os.path.join(tmp, "q.onnx")
                    quantize_static(src, dst, Reader(rng), quant_format=fmt, per_channel=per_channel,
                                    activation_type=QuantType.QUInt8, weight_type=wtype)
                    data = open(dst, "rb").read()
                    name = hashlib.sha1(data).hexdigest()
                    with open(os.path.join(CORPUS, name), "wb") as f:
                        f.write(data)
                    print(name, fmt, "per channel" if per_channel else "per tensor", wtype, len(data), "bytes")


if __name__ == "__main__":
    main()
