//! The typed operations of the IR.
//!
//! Tensors are in ONNX's logical layout (NCHW for images); physical layout is a code-generation
//! decision. Each node produces exactly one value. Operands are ordered by edge slot; the doc of
//! each variant lists them.

use std::fmt;

use super::quant::{QBinary, QBinaryKind, QConv, QGemm, QLookup, QPool, Quant};
use super::tensor::{DType, Tensor};

/// An elementwise activation, standalone or fused into the epilogue of a Conv/Gemm.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Activation {
    /// max(x, 0).
    Relu,
    /// clamp(x, min, max); Relu6 is `Clip { min: 0, max: 6 }`.
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// clamp(alpha * x + beta, 0, 1).
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// x * clamp(x / 6 + 1/2, 0, 1).
    HardSwish,
    /// 1 / (1 + exp(-x)).
    Sigmoid,
}

impl Activation {
    /// Relu6, the activation of MobileNetV1 and V2.
    pub const RELU6: Activation = Activation::Clip { min: 0.0, max: 6.0 };

    /// The activation of one value: the kernels' formula (`mobilenet_kernels::Act::apply`),
    /// so that the interpreter and every kernel path agree, NaN included.
    pub fn apply(self, x: f32) -> f32 {
        mobilenet_kernels::Act::from(self).apply(x)
    }

    /// Short name used by dumps and fusion statistics.
    pub fn name(self) -> String {
        match self {
            Activation::Relu => "relu".into(),
            Activation::Clip { min, max } if min == 0.0 && max == 6.0 => "relu6".into(),
            Activation::Clip { min, max } => format!("clip({min},{max})"),
            Activation::HardSigmoid { alpha, beta } => format!("hardsigmoid({alpha},{beta})"),
            Activation::HardSwish => "hardswish".into(),
            Activation::Sigmoid => "sigmoid".into(),
        }
    }

    /// Fusion-statistics kind: the name without parameters.
    pub fn kind(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Clip { min, max } if min == 0.0 && max == 6.0 => "relu6",
            Activation::Clip { .. } => "clip",
            Activation::HardSigmoid { .. } => "hardsigmoid",
            Activation::HardSwish => "hardswish",
            Activation::Sigmoid => "sigmoid",
        }
    }
}

impl From<Activation> for mobilenet_kernels::Act {
    fn from(a: Activation) -> Self {
        use mobilenet_kernels::Act;
        match a {
            Activation::Relu => Act::Relu,
            Activation::Clip { min, max } => Act::Clip { min, max },
            Activation::HardSigmoid { alpha, beta } => Act::HardSigmoid { alpha, beta },
            Activation::HardSwish => Act::HardSwish,
            Activation::Sigmoid => Act::Sigmoid,
        }
    }
}

/// How ONNX asks for padding to be derived from the input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum AutoPad {
    /// Use the explicit `pads`.
    NotSet,
    /// Pad so that the output is `ceil(input / stride)`, the odd pixel at the end.
    SameUpper,
    /// As `SameUpper`, the odd pixel at the beginning.
    SameLower,
    /// No padding.
    Valid,
}

impl AutoPad {
    /// The ONNX spelling, for messages.
    pub fn onnx_name(self) -> &'static str {
        match self {
            AutoPad::NotSet => "NOTSET",
            AutoPad::SameUpper => "SAME_UPPER",
            AutoPad::SameLower => "SAME_LOWER",
            AutoPad::Valid => "VALID",
        }
    }
}

/// The spatial window shared by Conv and pooling: kernel, strides, dilations, paddings.
/// `pads` is `[top, left, bottom, right]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Vertical and horizontal strides.
    pub strides: [usize; 2],
    /// Vertical and horizontal dilations.
    pub dilations: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [usize; 4],
    /// How ONNX asks for padding to be derived (resolved by shape inference).
    pub auto_pad: AutoPad,
}

impl Window {
    /// Extent of the dilated kernel along axis `a` (0 = height, 1 = width).
    pub fn extent(&self, a: usize) -> usize {
        (self.kernel[a] - 1) * self.dilations[a] + 1
    }

    /// Output size along axis `a` for an input of size `input`, or `None` when the padded input
    /// is smaller than the kernel.
    pub fn output_size(&self, a: usize, input: usize, ceil_mode: bool) -> Option<usize> {
        let padded = input + self.pads[a] + self.pads[a + 2];
        let extent = self.extent(a);
        if padded < extent {
            return None;
        }
        let span = padded - extent;
        let s = self.strides[a];
        if !ceil_mode {
            return Some(span / s + 1);
        }
        // Rounding up may add a window that starts in the end padding: ONNX Runtime (like
        // PyTorch and the ONNX reference) drops it.
        let out = span.div_ceil(s) + 1;
        Some(if (out - 1) * s >= input + self.pads[a] { out - 1 } else { out })
    }

    /// Replaces `auto_pad` by explicit pads for the given input size (ONNX semantics). SAME
    /// padding that would have to be negative (a stride larger than the kernel, which ONNX
    /// Runtime answers by shifting the windows) is refused: `auto_pad` stays set and the error
    /// says why.
    pub fn resolve_auto_pad(&mut self, input_hw: [usize; 2]) -> Result<(), String> {
        match self.auto_pad {
            AutoPad::NotSet => {}
            AutoPad::Valid => self.pads = [0; 4],
            AutoPad::SameUpper | AutoPad::SameLower => {
                let mut pads = [0; 4];
                for a in 0..2 {
                    let out = input_hw[a].div_ceil(self.strides[a]);
                    let covered = out.saturating_sub(1) * self.strides[a] + self.extent(a);
                    let Some(needed) = covered.checked_sub(input_hw[a]) else {
                        return Err(format!(
                            "auto_pad {:?} would need negative padding (stride {} over a kernel of extent {} on {} elements); \
                             write the pads explicitly",
                            self.auto_pad.onnx_name(),
                            self.strides[a],
                            self.extent(a),
                            input_hw[a]
                        ));
                    };
                    let small = needed / 2;
                    let large = needed - small;
                    let (begin, end) =
                        if self.auto_pad == AutoPad::SameUpper { (small, large) } else { (large, small) };
                    pads[a] = begin;
                    pads[a + 2] = end;
                }
                self.pads = pads;
            }
        }
        self.auto_pad = AutoPad::NotSet;
        Ok(())
    }

    /// A 1x1 window with unit strides and no padding.
    pub fn is_unit(&self) -> bool {
        self.kernel == [1, 1] && self.strides == [1, 1] && self.pads == [0; 4]
    }
}

/// A 2-D convolution with its fused epilogue: `y = act(conv(x, w) + bias + residual)`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Conv {
    /// Kernel, strides, dilations and padding.
    pub window: Window,
    /// Number of channel groups (the channel count for a depthwise conv).
    pub group: usize,
    /// Operand 2 is a bias of shape `[M]`.
    pub has_bias: bool,
    /// The last operand is added to the result before the activation (a fused residual Add).
    pub has_residual: bool,
    /// Activation applied last, if any.
    pub act: Option<Activation>,
}

impl Conv {
    /// Operands: x, w, then bias (if any), then residual (if any).
    pub fn operand_count(&self) -> usize {
        2 + self.has_bias as usize + self.has_residual as usize
    }
    /// The operand slot of the bias, if any.
    pub fn bias_slot(&self) -> Option<usize> {
        self.has_bias.then_some(2)
    }
    /// The operand slot of the residual, if any.
    pub fn residual_slot(&self) -> Option<usize> {
        self.has_residual.then_some(2 + self.has_bias as usize)
    }
}

/// General matrix multiply `y = act(alpha * A' * B' + beta * C)` (ONNX Gemm, plus a fused
/// activation). Operands: a, b, then c (if any).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Gemm {
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of C.
    pub beta: f32,
    /// A is transposed.
    pub trans_a: bool,
    /// B is transposed.
    pub trans_b: bool,
    /// Operand 2 (C) is present.
    pub has_c: bool,
    /// Activation applied last, if any.
    pub act: Option<Activation>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
/// A broadcasting binary elementwise operation.
pub enum BinaryOp {
    /// a + b.
    Add,
    /// a - b.
    Sub,
    /// a * b.
    Mul,
    /// a / b.
    Div,
    /// The larger of a and b.
    Max,
    /// The smaller of a and b.
    Min,
}

impl BinaryOp {
    /// The op on one pair of values: the kernels' formula (NaN in Max and Min gives NaN).
    pub fn apply(self, a: f32, b: f32) -> f32 {
        mobilenet_kernels::elementwise::BinOp::from(self).apply(a, b)
    }
    /// The op on integers (shape arithmetic); `None` on overflow or division by zero.
    pub fn apply_int(self, a: i64, b: i64) -> Option<i64> {
        match self {
            BinaryOp::Add => a.checked_add(b),
            BinaryOp::Sub => a.checked_sub(b),
            BinaryOp::Mul => a.checked_mul(b),
            BinaryOp::Div => a.checked_div(b),
            BinaryOp::Max => Some(a.max(b)),
            BinaryOp::Min => Some(a.min(b)),
        }
    }
    /// The ONNX op type.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "Add",
            BinaryOp::Sub => "Sub",
            BinaryOp::Mul => "Mul",
            BinaryOp::Div => "Div",
            BinaryOp::Max => "Max",
            BinaryOp::Min => "Min",
        }
    }
}

impl From<BinaryOp> for mobilenet_kernels::elementwise::BinOp {
    fn from(b: BinaryOp) -> Self {
        use mobilenet_kernels::elementwise::BinOp as B;
        match b {
            BinaryOp::Add => B::Add,
            BinaryOp::Sub => B::Sub,
            BinaryOp::Mul => B::Mul,
            BinaryOp::Div => B::Div,
            BinaryOp::Max => B::Max,
            BinaryOp::Min => B::Min,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
/// Which reduction a pooling window applies.
pub enum PoolKind {
    /// The largest value in the window.
    Max,
    /// The mean of the window.
    Average,
}

/// MaxPool / AveragePool over the two spatial axes.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Pool {
    /// Max or average.
    pub kind: PoolKind,
    /// Kernel, strides, dilations and padding.
    pub window: Window,
    /// Round the output size up rather than down.
    pub ceil_mode: bool,
    /// AveragePool only: padded positions count in the divisor.
    pub count_include_pad: bool,
}

/// The operation of an IR node.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A graph input (no operands). The index is its position among the graph's inputs.
    Input {
        /// Position among the graph inputs.
        index: usize,
    },
    /// A constant (no operands).
    Constant(Tensor),
    /// Operands: x, w, bias?, residual?.
    Conv(Conv),
    /// Operands: a, b, c?.
    Gemm(Gemm),
    /// Operands: a, b (numpy-style batched matmul).
    MatMul,
    /// Inference-mode BatchNormalization. Operands: x, scale, bias, mean, var.
    BatchNorm {
        /// Added to the variance.
        epsilon: f32,
    },
    /// Operand: x.
    Activation(Activation),
    /// Operands: a, b (numpy broadcasting).
    Binary(BinaryOp),
    /// Operand: x `[N, C, H, W]` -> `[N, C, 1, 1]`.
    GlobalAveragePool,
    /// Operand: x.
    Pool(Pool),
    /// Operand: x. Empty `axes` reduces every axis.
    ReduceMean {
        /// Axes to reduce (negative counts from the end).
        axes: Vec<i64>,
        /// Keep reduced axes as size 1.
        keepdims: bool,
    },
    /// Operands: x, shape (an int64 tensor, folded to a constant before codegen).
    Reshape {
        /// A 0 in the shape means size 0 rather than "copy the input dimension".
        allow_zero: bool,
    },
    /// Operand: x. Flattens to 2-D at `axis`.
    Flatten {
        /// Dimensions before it form the first axis of the result.
        axis: i64,
    },
    /// Operand: x. `None` removes every dimension of size 1.
    Squeeze {
        /// Axes to remove.
        axes: Option<Vec<i64>>,
    },
    /// Operand: x.
    Unsqueeze {
        /// Positions of the new size-1 axes in the result.
        axes: Vec<i64>,
    },
    /// Operand: x. The canonical form of Reshape/Flatten/Squeeze/Unsqueeze once every shape is
    /// known: the same elements in the same row-major order, viewed with another shape.
    View {
        /// The new shape.
        shape: Vec<usize>,
    },
    /// Operand: x. An empty perm (reverse the axes) is filled in by shape inference.
    Transpose {
        /// Result axis `i` is input axis `perm[i]`.
        perm: Vec<usize>,
    },
    /// Constant-mode Pad. Operand: x. `pads` = begins then ends, one per axis of `axes` (all
    /// axes when `None`; shape inference expands the `Some` form).
    Pad {
        /// Begins, then ends.
        pads: Vec<i64>,
        /// The axes `pads` applies to.
        axes: Option<Vec<i64>>,
        /// The padding value.
        value: f32,
    },
    /// Operand: x. `coerce_2d`: opset < 13 semantics (flatten at `axis`, softmax over the rest).
    Softmax {
        /// The axis normalised over.
        axis: i64,
        /// Opset < 13: softmax over every axis from `axis` on.
        coerce_2d: bool,
    },
    /// Operand: x. Produces the (sliced) shape of x as int64.
    Shape {
        /// First dimension reported.
        start: i64,
        /// One past the last (all of them when `None`).
        end: Option<i64>,
    },
    /// Operands: data, indices.
    Gather {
        /// The axis indexed.
        axis: i64,
    },
    /// Operand: x. One entry per sliced axis.
    Slice {
        /// First index per sliced axis.
        starts: Vec<i64>,
        /// End index (exclusive) per sliced axis.
        ends: Vec<i64>,
        /// The sliced axes.
        axes: Vec<i64>,
        /// Step per sliced axis.
        steps: Vec<i64>,
    },
    /// Operands: the tensors to join.
    Concat {
        /// The axis joined along.
        axis: i64,
    },
    /// Operand: x.
    Cast {
        /// The target element type.
        to: DType,
    },
    /// Operand: x. Also stands for inference-mode Dropout.
    Identity {
        /// Imported from a Dropout (named so in dumps).
        dropout: bool,
    },
    /// QuantizeLinear: float to 8-bit integers with these parameters. Operand: x (f32).
    Quantize(Quant),
    /// DequantizeLinear: integers (u8, i8, i32) to float. Operand: q.
    Dequantize(Quant),
    /// A quantised convolution (`ir::quant`). Operands: x, w, bias?.
    QConv(QConv),
    /// A quantised matrix product. Operands: a, b, c?.
    QGemm(QGemm),
    /// A quantised Add or Mul. Operands: a, b.
    QBinary(QBinary),
    /// A quantised average pool. Operand: x.
    QPool(QPool),
    /// A function of an 8-bit tensor as a table. Operand: x.
    QLookup(QLookup),
}

impl Op {
    /// The name printed in dumps and counted in statistics.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "Input",
            Op::Constant(_) => "Constant",
            Op::Conv(_) => "Conv",
            Op::Gemm(_) => "Gemm",
            Op::MatMul => "MatMul",
            Op::BatchNorm { .. } => "BatchNormalization",
            Op::Activation(a) => match a {
                Activation::Relu => "Relu",
                Activation::Clip { .. } => "Clip",
                Activation::HardSigmoid { .. } => "HardSigmoid",
                Activation::HardSwish => "HardSwish",
                Activation::Sigmoid => "Sigmoid",
            },
            Op::Binary(b) => b.name(),
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::Pool(p) => match p.kind {
                PoolKind::Max => "MaxPool",
                PoolKind::Average => "AveragePool",
            },
            Op::ReduceMean { .. } => "ReduceMean",
            Op::Reshape { .. } => "Reshape",
            Op::Flatten { .. } => "Flatten",
            Op::Squeeze { .. } => "Squeeze",
            Op::Unsqueeze { .. } => "Unsqueeze",
            Op::View { .. } => "View",
            Op::Transpose { .. } => "Transpose",
            Op::Pad { .. } => "Pad",
            Op::Softmax { .. } => "Softmax",
            Op::Shape { .. } => "Shape",
            Op::Gather { .. } => "Gather",
            Op::Slice { .. } => "Slice",
            Op::Concat { .. } => "Concat",
            Op::Cast { .. } => "Cast",
            Op::Identity { dropout: false } => "Identity",
            Op::Identity { dropout: true } => "Dropout",
            Op::Quantize(_) => "QuantizeLinear",
            Op::Dequantize(_) => "DequantizeLinear",
            Op::QConv(_) => "QLinearConv",
            Op::QGemm(_) => "QGemm",
            Op::QBinary(b) => match b.kind {
                QBinaryKind::Add => "QLinearAdd",
                QBinaryKind::Mul => "QLinearMul",
            },
            Op::QPool(p) if p.pool.is_some() => "QLinearAveragePool",
            Op::QPool(_) => "QLinearGlobalAveragePool",
            Op::QLookup(_) => "QLookup",
        }
    }

    /// Allowed operand counts (inclusive range).
    pub fn arity(&self) -> (usize, usize) {
        match self {
            Op::Input { .. } | Op::Constant(_) => (0, 0),
            Op::Conv(c) => (c.operand_count(), c.operand_count()),
            Op::Gemm(g) => (2 + g.has_c as usize, 2 + g.has_c as usize),
            Op::MatMul | Op::Binary(_) | Op::Gather { .. } | Op::Reshape { .. } | Op::QBinary(_) => (2, 2),
            Op::QConv(c) => (2 + c.has_bias as usize, 2 + c.has_bias as usize),
            Op::QGemm(g) => (2 + g.has_c as usize, 2 + g.has_c as usize),
            Op::BatchNorm { .. } => (5, 5),
            Op::Concat { .. } => (1, usize::MAX),
            _ => (1, 1),
        }
    }

    /// Whether the node is a constant.
    pub fn is_constant(&self) -> bool {
        matches!(self, Op::Constant(_))
    }

    /// The convolution parameters, if this is a Conv.
    pub fn as_conv(&self) -> Option<&Conv> {
        match self {
            Op::Conv(c) => Some(c),
            _ => None,
        }
    }

    /// Attributes worth showing in a one-line dump.
    pub fn describe(&self) -> String {
        match self {
            Op::Input { index } => format!("#{index}"),
            Op::Constant(t) => describe_constant(t),
            Op::Conv(c) => {
                let w = &c.window;
                let mut s = format!("k={}x{} s={}x{}", w.kernel[0], w.kernel[1], w.strides[0], w.strides[1]);
                if w.pads != [0; 4] {
                    s += &format!(" pads={},{},{},{}", w.pads[0], w.pads[1], w.pads[2], w.pads[3]);
                }
                if w.dilations != [1, 1] {
                    s += &format!(" dil={}x{}", w.dilations[0], w.dilations[1]);
                }
                if w.auto_pad != AutoPad::NotSet {
                    s += &format!(" auto_pad={:?}", w.auto_pad);
                }
                if c.group != 1 {
                    s += &format!(" group={}", c.group);
                }
                if c.has_bias {
                    s += " +bias";
                }
                if c.has_residual {
                    s += " +residual";
                }
                if let Some(a) = c.act {
                    s += &format!(" act={}", a.name());
                }
                s
            }
            Op::Gemm(g) => {
                let mut s = String::new();
                if g.trans_a {
                    s += "transA ";
                }
                if g.trans_b {
                    s += "transB ";
                }
                if g.alpha != 1.0 {
                    s += &format!("alpha={} ", g.alpha);
                }
                if g.has_c {
                    s += &format!("+C(beta={}) ", g.beta);
                }
                if let Some(a) = g.act {
                    s += &format!("act={}", a.name());
                }
                s.trim_end().to_string()
            }
            Op::BatchNorm { epsilon } => format!("eps={epsilon}"),
            Op::Activation(a) => match a {
                Activation::Clip { min, max } => format!("min={min} max={max}"),
                Activation::HardSigmoid { alpha, beta } => format!("alpha={alpha} beta={beta}"),
                _ => String::new(),
            },
            Op::Pool(p) => {
                let w = &p.window;
                let mut s = format!("k={}x{} s={}x{}", w.kernel[0], w.kernel[1], w.strides[0], w.strides[1]);
                if w.pads != [0; 4] {
                    s += &format!(" pads={},{},{},{}", w.pads[0], w.pads[1], w.pads[2], w.pads[3]);
                }
                if p.ceil_mode {
                    s += " ceil";
                }
                s
            }
            Op::ReduceMean { axes, keepdims } => format!("axes={axes:?} keepdims={keepdims}"),
            Op::Flatten { axis } => format!("axis={axis}"),
            Op::Squeeze { axes: Some(a) } => format!("axes={a:?}"),
            Op::Unsqueeze { axes } => format!("axes={axes:?}"),
            Op::View { shape } => format!("shape={shape:?}"),
            Op::Transpose { perm } => format!("perm={perm:?}"),
            Op::Pad { pads, value, .. } => format!("pads={pads:?} value={value}"),
            Op::Softmax { axis, .. } => format!("axis={axis}"),
            Op::Gather { axis } | Op::Concat { axis } => format!("axis={axis}"),
            Op::Slice { starts, ends, axes, steps } => {
                format!("starts={starts:?} ends={ends:?} axes={axes:?} steps={steps:?}")
            }
            Op::Cast { to } => format!("to={to}"),
            Op::Quantize(q) | Op::Dequantize(q) => q.describe(),
            Op::QConv(c) => {
                let w = &c.window;
                let mut s = format!("k={}x{} s={}x{}", w.kernel[0], w.kernel[1], w.strides[0], w.strides[1]);
                if w.pads != [0; 4] {
                    s += &format!(" pads={},{},{},{}", w.pads[0], w.pads[1], w.pads[2], w.pads[3]);
                }
                if w.dilations != [1, 1] {
                    s += &format!(" dil={}x{}", w.dilations[0], w.dilations[1]);
                }
                if c.group != 1 {
                    s += &format!(" group={}", c.group);
                }
                if c.has_bias {
                    s += " +bias";
                }
                s + &quant_io(&[("x", &c.x), ("w", &c.w), ("y", &c.y)], c.clamp, &c.y)
            }
            Op::QGemm(g) => {
                let mut s = String::new();
                if g.trans_a {
                    s += "transA ";
                }
                if g.trans_b {
                    s += "transB ";
                }
                if g.has_c {
                    s += "+C ";
                }
                s.trim_end().to_string() + &quant_io(&[("a", &g.a), ("b", &g.b), ("y", &g.y)], g.clamp, &g.y)
            }
            Op::QBinary(b) => {
                quant_io(&[("a", &b.a), ("b", &b.b), ("y", &b.y)], b.clamp, &b.y).trim_start().to_string()
            }
            Op::QPool(p) => {
                let mut s = match &p.pool {
                    Some(pool) => {
                        let w = &pool.window;
                        let mut s = format!("k={}x{} s={}x{}", w.kernel[0], w.kernel[1], w.strides[0], w.strides[1]);
                        if w.pads != [0; 4] {
                            s += &format!(" pads={},{},{},{}", w.pads[0], w.pads[1], w.pads[2], w.pads[3]);
                        }
                        s
                    }
                    None => String::new(),
                };
                s += &quant_io(&[("x", &p.x), ("y", &p.y)], p.y.range(), &p.y);
                s.trim_start().to_string()
            }
            Op::QLookup(l) => format!("{} {}->{}", l.function, l.from, l.to),
            _ => String::new(),
        }
    }
}

/// ` x=u8(0.02, 128) w=i8(axis 0 x32) y=...`, and the clamp when it narrows the type.
fn quant_io(parts: &[(&str, &Quant)], clamp: (i32, i32), y: &Quant) -> String {
    let mut s: String = parts.iter().map(|(name, q)| format!(" {name}={}", q.describe())).collect();
    if clamp != y.range() {
        s += &format!(" clamp={}..{}", clamp.0, clamp.1);
    }
    s
}

fn describe_constant(t: &Tensor) -> String {
    let values = t.to_f64_vec();
    if values.len() <= 8 {
        let shown: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
        format!("[{}]", shown.join(", "))
    } else {
        format!("{} values", values.len())
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.describe();
        if d.is_empty() { write!(f, "{}", self.name()) } else { write!(f, "{} {}", self.name(), d) }
    }
}
