//! Quantised tensors and the operations on them.
//!
//! An 8-bit tensor stands for `real = scale * (q - zero_point)`, with one scale and zero point
//! for the whole tensor or one per index along an axis (the output channels of a convolution's
//! weights). The parameters are part of the operations, not of the values: a `Quantize` says
//! how its float input becomes integers, a `QConv` how to read its input and weights and how to
//! write its output, exactly as ONNX's QuantizeLinear, DequantizeLinear and QLinear* operators
//! carry them. The integer arithmetic itself is `mobilenet_kernels::quant`.

use super::infer::normalize_axis;
use super::op::{Pool, Window};
use super::tensor::DType;

use crate::error::{Result, err};

/// Quantisation parameters of one tensor.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Quant {
    /// The integer type: `U8` or `I8` (`I32` for the bias of a quantised convolution).
    pub dtype: DType,
    /// One scale, or one per index of `axis`.
    pub scale: Vec<f32>,
    /// As many zero points as scales.
    pub zero_point: Vec<i32>,
    /// The axis the parameters run along (ONNX's `axis`, possibly negative); `None` for one
    /// scale for the whole tensor.
    pub axis: Option<i64>,
}

impl Quant {
    /// One scale and zero point for the whole tensor.
    pub fn per_tensor(dtype: DType, scale: f32, zero_point: i32) -> Quant {
        Quant { dtype, scale: vec![scale], zero_point: vec![zero_point], axis: None }
    }

    /// The scale that applies at index `i` of the axis (any `i` when per tensor).
    pub fn scale_at(&self, i: usize) -> f32 {
        if self.axis.is_none() { self.scale[0] } else { self.scale[i] }
    }

    /// The zero point that applies at index `i` of the axis.
    pub fn zero_point_at(&self, i: usize) -> i32 {
        if self.axis.is_none() { self.zero_point[0] } else { self.zero_point[i] }
    }

    /// The single scale and zero point of a per-tensor quantisation.
    pub fn single(&self) -> Option<(f32, i32)> {
        (self.axis.is_none() || self.scale.len() == 1 && self.zero_point.iter().all(|&z| z == self.zero_point[0]))
            .then(|| (self.scale[0], self.zero_point[0]))
    }

    /// Smallest and largest integer of the type.
    pub fn range(&self) -> (i32, i32) {
        int_range(self.dtype)
    }

    /// The axis as an index into a tensor of rank `rank`, checked against the tensor's
    /// dimension there: `None` for per-tensor parameters.
    pub fn axis_in(&self, shape: &[usize], what: &str) -> Result<Option<usize>> {
        let Some(axis) = self.axis else { return Ok(None) };
        let a = normalize_axis(axis, shape.len())?;
        if self.scale.len() != shape[a] {
            return Err(err!(
                invalid,
                "{what}: {} scales along axis {axis}, where the tensor {shape:?} has {}",
                self.scale.len(),
                shape[a]
            ));
        }
        Ok(Some(a))
    }

    /// Refuses parameters the arithmetic cannot honour: a type other than u8, i8 (or i32 where
    /// `allow_i32`), scales that are not finite and positive, zero points outside the type,
    /// counts that differ.
    pub fn check(&self, what: &str, allow_i32: bool) -> Result<()> {
        match self.dtype {
            DType::U8 | DType::I8 => {}
            DType::I32 if allow_i32 => {}
            other => {
                return Err(err!(
                    unsupported,
                    "{what} is quantised to {other}; only uint8 and int8{} are supported",
                    if allow_i32 { " (int32 for biases)" } else { "" }
                ));
            }
        }
        if self.scale.is_empty() || self.scale.len() != self.zero_point.len() {
            return Err(err!(
                invalid,
                "{what} has {} scales and {} zero points",
                self.scale.len(),
                self.zero_point.len()
            ));
        }
        if self.axis.is_none() && self.scale.len() != 1 {
            return Err(err!(invalid, "{what} has {} scales but no axis", self.scale.len()));
        }
        if let Some(s) = self.scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(err!(unsupported, "{what} has scale {s}; scales must be finite and positive"));
        }
        let (lo, hi) = self.range();
        if let Some(z) = self.zero_point.iter().find(|z| !(lo..=hi).contains(*z)) {
            return Err(err!(invalid, "{what} has zero point {z}, outside {}", self.dtype));
        }
        if self.dtype == DType::I32 && self.zero_point.iter().any(|&z| z != 0) {
            return Err(err!(invalid, "{what} is int32 with a nonzero zero point (ONNX requires 0)"));
        }
        Ok(())
    }

    /// For dumps: `u8 0.0235/0`, or `i8 axis 0 [32 scales]`.
    pub fn describe(&self) -> String {
        match self.single() {
            Some((s, z)) if self.axis.is_none() => format!("{}({s}, {z})", self.dtype),
            _ => format!("{}(axis {} x{})", self.dtype, self.axis.unwrap_or(0), self.scale.len()),
        }
    }
}

/// Smallest and largest value of an integer type (i32 for anything else).
pub fn int_range(dtype: DType) -> (i32, i32) {
    match dtype {
        DType::U8 => (0, 255),
        DType::I8 => (-128, 127),
        _ => (i32::MIN, i32::MAX),
    }
}

/// A convolution over quantised input and weights: `y = requantize(sum((x - x_zp) * (w -
/// w_zp)) + bias)`, with the multiplier `x_scale * w_scale[m] / y_scale` per output channel.
/// Operands: x (u8/i8), w (u8/i8 constant, `[M, C/group, kh, kw]`), bias? (i32 constant `[M]`,
/// in units of `x_scale * w_scale[m]`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QConv {
    /// Kernel, strides, dilations and padding.
    pub window: Window,
    /// Number of channel groups.
    pub group: usize,
    /// Operand 2 is an int32 bias.
    pub has_bias: bool,
    /// The input's parameters (per tensor).
    pub x: Quant,
    /// The weights' parameters (per tensor or per output channel).
    pub w: Quant,
    /// The output's parameters (per tensor).
    pub y: Quant,
    /// The output's bounds, within its type: narrower after a fused Relu or Clip.
    pub clamp: (i32, i32),
}

/// `y = requantize(a' * b' + c)` for 2-D `a` and constant `b` (QGemm, QLinearMatMul, and a
/// quantised Gemm or MatMul). Operands: a (u8/i8 `[M, K]`), b (u8/i8 constant), c? (i32
/// constant broadcasting to `[M, N]`, in units of `a_scale * b_scale[n]`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QGemm {
    /// A is transposed.
    pub trans_a: bool,
    /// B is transposed.
    pub trans_b: bool,
    /// Operand 2 (C, the bias) is present.
    pub has_c: bool,
    /// A's parameters (per tensor).
    pub a: Quant,
    /// B's parameters (per tensor or per column of the product).
    pub b: Quant,
    /// The output's parameters (per tensor).
    pub y: Quant,
    /// The output's bounds, within its type.
    pub clamp: (i32, i32),
}

/// Which binary operation a `QBinary` performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum QBinaryKind {
    /// QLinearAdd: `mobilenet_kernels::quant::add`.
    Add,
    /// QLinearMul: `(a - a_zp) * (b - b_zp)` requantised with `a_scale * b_scale / y_scale`.
    Mul,
}

/// Elementwise addition or multiplication of two quantised tensors (numpy broadcasting).
/// Operands: a, b.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QBinary {
    /// Add or Mul.
    pub kind: QBinaryKind,
    /// A's parameters (per tensor).
    pub a: Quant,
    /// B's parameters (per tensor).
    pub b: Quant,
    /// The output's parameters (per tensor).
    pub y: Quant,
    /// The output's bounds, within its type.
    pub clamp: (i32, i32),
}

/// Average pooling of a quantised tensor: the window's sum of `x - x_zp` requantised with
/// `x_scale / (y_scale * count)`, where `count` is the window's size (with or without the
/// padding, as `count_include_pad` says). Operand: x `[N, C, H, W]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QPool {
    /// The window; `None` for the global average (`[N, C, 1, 1]`).
    pub pool: Option<Pool>,
    /// The input's parameters (per tensor).
    pub x: Quant,
    /// The output's parameters (per tensor).
    pub y: Quant,
}

/// An elementwise function of one 8-bit tensor, as a table of its 256 results: what a float
/// function between a DequantizeLinear and a QuantizeLinear computes, and ONNX Runtime's
/// QLinearSigmoid and QLinearLeakyRelu. Operand: x (u8/i8); `table[q - min]` is the result for
/// `q`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QLookup {
    /// The input type.
    pub from: DType,
    /// The output type.
    pub to: DType,
    /// 256 results, as integers of `to`.
    pub table: Vec<i32>,
    /// What the table computes, for dumps (`Sigmoid`, `HardSigmoid`, ...).
    pub function: String,
}

impl QLookup {
    /// The result for input `q`.
    pub fn get(&self, q: i32) -> i32 {
        self.table[(q - int_range(self.from).0) as usize]
    }
}

/// The quantised output bounds of a float clamp `[lo, hi]` followed by quantisation with `y`:
/// quantisation is monotonic, so clamping the float and then quantising equals quantising and
/// then clamping to the quantised bounds.
pub fn clamp_of(lo: f32, hi: f32, y: &Quant) -> (i32, i32) {
    let (s, z) = (y.scale[0], y.zero_point[0]);
    let (tmin, tmax) = y.range();
    let q = |v: f32| mobilenet_kernels::quant::quantize(v, s, z, tmin, tmax);
    (q(lo), q(hi))
}

impl QLookup {
    /// The table of `f` between dequantisation with `x` and quantisation with `y` (both per
    /// tensor): entry `q` is `quantize(f(dequantize(q)))`.
    pub fn of(function: impl Into<String>, x: &Quant, y: &Quant, f: impl Fn(f32) -> f32) -> QLookup {
        use mobilenet_kernels::quant::{dequantize, quantize};
        let (xs, xz) = (x.scale[0], x.zero_point[0]);
        let (ys, yz) = (y.scale[0], y.zero_point[0]);
        let (lo, hi) = x.range();
        let (ylo, yhi) = y.range();
        let table = (lo..=hi).map(|q| quantize(f(dequantize(q, xs, xz)), ys, yz, ylo, yhi)).collect();
        QLookup { from: x.dtype, to: y.dtype, table, function: function.into() }
    }
}
