//! Quantisation: QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, and the
//! com.microsoft operators ONNX Runtime's quantiser writes (QLinearAdd, QLinearMul,
//! QLinearGlobalAveragePool, QLinearAveragePool, QGemm, QLinearSigmoid, QLinearLeakyRelu).
//! Scales and zero points must be constants: they become fields of the IR op (`ir::quant`).

use super::conv::window;
use crate::error::{Result, err};
use crate::import::NodeCx;
use crate::ir::quant::{QBinary, QBinaryKind, QConv, QGemm, QLookup, QPool, Quant};
use crate::ir::{Activation, DType, NodeId, Op, Pool, PoolKind};

/// The parameters given by inputs `scale` and `zero_point` (absent: an empty zero point, which
/// shape inference fills with zeros of the input's type, or `default` when given). A scale of
/// one element is per tensor, as ONNX Runtime treats it; a longer 1-D scale runs along `axis`.
fn params(
    cx: &mut NodeCx,
    scale: usize,
    zero_point: usize,
    axis: i64,
    default: Option<DType>,
    what: &str,
) -> Result<Quant> {
    let s = cx
        .static_input(scale, &format!("the {what} scale"))?
        .ok_or_else(|| err!(invalid, "the {what} scale (input {scale}) is required"))?;
    if s.dtype != DType::F32 {
        return Err(err!(unsupported, "the {what} scale is {}; only float32 scales are supported", s.dtype));
    }
    if s.shape.len() > 1 {
        return Err(err!(
            unsupported,
            "the {what} scale has shape {:?}; blocked quantisation is not supported",
            s.shape
        ));
    }
    let scales = s.as_f32().unwrap_or_default().to_vec();
    let (dtype, zero_point) = match cx.static_input(zero_point, &format!("the {what} zero point"))? {
        Some(z) => {
            if !matches!(z.dtype, DType::U8 | DType::I8 | DType::I32) {
                return Err(err!(
                    unsupported,
                    "the {what} is quantised to {}; only uint8 and int8 (int32 for biases) are supported",
                    z.dtype
                ));
            }
            if z.len() != scales.len() {
                return Err(err!(invalid, "the {what} has {} scales and {} zero points", scales.len(), z.len()));
            }
            (z.dtype, z.as_i64().unwrap_or_default().iter().map(|&v| v as i32).collect())
        }
        None => match default {
            Some(d) => (d, vec![0; scales.len()]),
            None => (DType::U8, Vec::new()),
        },
    };
    let axis = (s.shape.len() == 1 && scales.len() > 1).then_some(axis);
    let q = Quant { dtype, scale: scales, zero_point, axis };
    if !q.zero_point.is_empty() {
        q.check(&format!("the {what}"), true)?;
    } else if let Some(bad) = q.scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(err!(unsupported, "the {what} has scale {bad}; scales must be finite and positive"));
    }
    Ok(q)
}

/// Attributes every version may carry that this compiler cannot honour.
fn refuse_blocks_and_types(cx: &NodeCx) -> Result<()> {
    if cx.attrs.int_or("block_size", 0)? != 0 {
        return Err(err!(unsupported, "blocked quantisation (block_size) is not supported"));
    }
    Ok(())
}

/// Parameters of an 8-bit operand or result, one per tensor.
fn per_tensor(cx: &mut NodeCx, scale: usize, zero_point: usize, what: &str) -> Result<Quant> {
    let q = params(cx, scale, zero_point, 1, Some(DType::U8), what)?;
    if q.dtype == DType::I32 {
        return Err(err!(invalid, "the {what} must be uint8 or int8, got int32"));
    }
    if q.single().is_none() {
        return Err(err!(unsupported, "the {what} must have one scale and zero point"));
    }
    Ok(Quant { axis: None, ..q })
}

pub fn quantize_linear(cx: &mut NodeCx) -> Result<NodeId> {
    refuse_blocks_and_types(cx)?;
    let axis = cx.attrs.int_or("axis", 1)?;
    let default = match cx.attrs.int("output_dtype")? {
        None | Some(0) => DType::U8,
        Some(2) => DType::U8,
        Some(3) => DType::I8,
        Some(t) => {
            return Err(err!(
                unsupported,
                "output_dtype {} ({t}) is not supported; only uint8 and int8",
                crate::onnx::proto::data_type::name(t as i32)
            ));
        }
    };
    let mut q = params(cx, 1, 2, axis, Some(default), "output")?;
    if q.dtype == DType::I32 {
        return Err(err!(unsupported, "QuantizeLinear to int32 is not supported"));
    }
    if q.zero_point.is_empty() {
        q.zero_point = vec![0; q.scale.len()];
    }
    let x = cx.input(0)?;
    Ok(cx.add(Op::Quantize(q), &[x]))
}

pub fn dequantize_linear(cx: &mut NodeCx) -> Result<NodeId> {
    refuse_blocks_and_types(cx)?;
    let axis = cx.attrs.int_or("axis", 1)?;
    let q = params(cx, 1, 2, axis, None, "input")?;
    let x = cx.input(0)?;
    Ok(cx.add(Op::Dequantize(q), &[x]))
}

fn group(cx: &NodeCx) -> Result<usize> {
    let group = cx.attrs.int_or("group", 1)?;
    if group < 1 || group > i32::MAX as i64 {
        return Err(err!(invalid, "group {group} must be at least 1"));
    }
    Ok(group as usize)
}

/// Inputs: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B?.
pub fn qlinear_conv(cx: &mut NodeCx) -> Result<NodeId> {
    let window = window(&cx.attrs, false)?;
    let group = group(cx)?;
    let xq = per_tensor(cx, 1, 2, "input")?;
    let wq = params(cx, 4, 5, 0, Some(DType::U8), "weight")?;
    let yq = per_tensor(cx, 6, 7, "output")?;
    let x = cx.input(0)?;
    let w = cx.input(3)?;
    let b = cx.optional_input(8)?;
    let clamp = yq.range();
    let op = QConv { window, group, has_bias: b.is_some(), x: xq, w: wq, y: yq, clamp };
    let mut operands = vec![x, w];
    operands.extend(b);
    Ok(cx.add(Op::QConv(op), &operands))
}

/// Inputs: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point (2-D).
pub fn qlinear_matmul(cx: &mut NodeCx) -> Result<NodeId> {
    let aq = per_tensor(cx, 1, 2, "A")?;
    let bq = params(cx, 4, 5, -1, Some(DType::U8), "B")?;
    let yq = per_tensor(cx, 6, 7, "output")?;
    let (a, b) = (cx.input(0)?, cx.input(3)?);
    let clamp = yq.range();
    let op = QGemm { trans_a: false, trans_b: false, has_c: false, a: aq, b: bq, y: yq, clamp };
    Ok(cx.add(Op::QGemm(op), &[a, b]))
}

fn binary(cx: &mut NodeCx, kind: QBinaryKind) -> Result<NodeId> {
    let aq = per_tensor(cx, 1, 2, "A")?;
    let bq = per_tensor(cx, 4, 5, "B")?;
    let yq = per_tensor(cx, 6, 7, "output")?;
    let (a, b) = (cx.input(0)?, cx.input(3)?);
    let clamp = yq.range();
    Ok(cx.add(Op::QBinary(QBinary { kind, a: aq, b: bq, y: yq, clamp }), &[a, b]))
}

/// com.microsoft QLinearAdd: A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale,
/// C_zero_point.
pub fn qlinear_add(cx: &mut NodeCx) -> Result<NodeId> {
    binary(cx, QBinaryKind::Add)
}

/// com.microsoft QLinearMul, inputs as QLinearAdd.
pub fn qlinear_mul(cx: &mut NodeCx) -> Result<NodeId> {
    binary(cx, QBinaryKind::Mul)
}

fn refuse_channels_last(cx: &NodeCx) -> Result<()> {
    if cx.attrs.int_or("channels_last", 0)? != 0 {
        return Err(err!(unsupported, "channels_last=1 is not supported"));
    }
    Ok(())
}

/// com.microsoft QLinearGlobalAveragePool: X, x_scale, x_zero_point, y_scale, y_zero_point.
pub fn qlinear_global_average_pool(cx: &mut NodeCx) -> Result<NodeId> {
    refuse_channels_last(cx)?;
    let xq = per_tensor(cx, 1, 2, "input")?;
    let yq = per_tensor(cx, 3, 4, "output")?;
    let x = cx.input(0)?;
    Ok(cx.add(Op::QPool(QPool { pool: None, x: xq, y: yq }), &[x]))
}

/// com.microsoft QLinearAveragePool: inputs as QLinearGlobalAveragePool, attributes as
/// AveragePool.
pub fn qlinear_average_pool(cx: &mut NodeCx) -> Result<NodeId> {
    refuse_channels_last(cx)?;
    let window = window(&cx.attrs, true)?;
    if window.dilations != [1, 1] {
        return Err(err!(unsupported, "average pooling with dilations is not supported"));
    }
    let ceil_mode = cx.attrs.int_or("ceil_mode", 0)? != 0;
    let count_include_pad = cx.attrs.int_or("count_include_pad", 0)? != 0;
    let xq = per_tensor(cx, 1, 2, "input")?;
    let yq = per_tensor(cx, 3, 4, "output")?;
    let x = cx.input(0)?;
    let pool = Pool { kind: PoolKind::Average, window, ceil_mode, count_include_pad };
    Ok(cx.add(Op::QPool(QPool { pool: Some(pool), x: xq, y: yq }), &[x]))
}

/// com.microsoft QGemm: A, a_scale, a_zero_point, B, b_scale, b_zero_point, C?, y_scale?,
/// y_zero_point?. Only the quantised output (y_scale given) and alpha 1 are supported.
pub fn qgemm(cx: &mut NodeCx) -> Result<NodeId> {
    let alpha = cx.attrs.float_or("alpha", 1.0)?;
    if alpha != 1.0 {
        return Err(err!(unsupported, "QGemm with alpha {alpha} is not supported (only 1)"));
    }
    let trans_a = cx.attrs.int_or("transA", 0)? != 0;
    let trans_b = cx.attrs.int_or("transB", 0)? != 0;
    if cx.optional_input(7)?.is_none() {
        return Err(err!(unsupported, "QGemm with a float output (no y_scale) is not supported"));
    }
    let aq = per_tensor(cx, 1, 2, "A")?;
    let bq = params(cx, 4, 5, if trans_b { 0 } else { 1 }, Some(DType::U8), "B")?;
    let yq = per_tensor(cx, 7, 8, "output")?;
    let (a, b) = (cx.input(0)?, cx.input(3)?);
    let c = cx.optional_input(6)?;
    let clamp = yq.range();
    let op = QGemm { trans_a, trans_b, has_c: c.is_some(), a: aq, b: bq, y: yq, clamp };
    let mut operands = vec![a, b];
    operands.extend(c);
    Ok(cx.add(Op::QGemm(op), &operands))
}

fn lookup(cx: &mut NodeCx, name: &str, f: impl Fn(f32) -> f32) -> Result<NodeId> {
    let xq = per_tensor(cx, 1, 2, "input")?;
    let yq = per_tensor(cx, 3, 4, "output")?;
    let x = cx.input(0)?;
    Ok(cx.add(Op::QLookup(QLookup::of(name, &xq, &yq, f)), &[x]))
}

/// com.microsoft QLinearSigmoid: X, X_scale, X_zero_point, Y_scale, Y_zero_point.
pub fn qlinear_sigmoid(cx: &mut NodeCx) -> Result<NodeId> {
    lookup(cx, "Sigmoid", |x| Activation::Sigmoid.apply(x))
}

/// com.microsoft QLinearLeakyRelu: inputs as QLinearSigmoid, attribute alpha (0.01).
pub fn qlinear_leaky_relu(cx: &mut NodeCx) -> Result<NodeId> {
    let alpha = cx.attrs.float_or("alpha", 0.01)?;
    lookup(cx, "LeakyRelu", move |x| if x >= 0.0 { x } else { alpha * x })
}

/// DynamicQuantizeLinear, ConvInteger, MatMulInteger: refused with what to do instead.
pub fn dynamic(op_type: &str) -> crate::error::Error {
    err!(
        unsupported,
        "{op_type} belongs to dynamic quantisation, which is not supported yet; quantise the model statically (onnxruntime.quantization.quantize_static) or use the float model"
    )
}
