//! BatchNormalization folding. After a Conv (regular, grouped or depthwise) whose output nothing
//! else reads, the normalisation becomes part of the weights and bias:
//!   s = gamma / sqrt(var + eps);  w'[m] = w[m] * s[m];  b'[m] = (b[m] - mean[m]) * s[m] + beta[m].
//! A BatchNormalization elsewhere becomes a per-channel Mul and Add (which affine folding may
//! still merge into a producer).

use super::{PassReport, bypass, private_constant};
use crate::error::{Result, err};
use crate::ir::{BinaryOp, Graph, NodeId, Op, Tensor};
use crate::options::Options;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("batchnorm_fold");
    for n in g.topo_order()? {
        let Op::BatchNorm { epsilon } = *g.op(n) else { continue };
        let operands = g.operands(n);
        let params: Option<Vec<Vec<f32>>> =
            operands[1..].iter().map(|&p| g.constant(p).and_then(|t| t.as_f32()).map(<[f32]>::to_vec)).collect();
        let Some(params) = params else { continue };
        let (gamma, beta, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
        let scale: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| g / (v + epsilon).sqrt()).collect();
        let shift: Vec<f32> = (0..scale.len()).map(|c| beta[c] - mean[c] * scale[c]).collect();
        // var + epsilon <= 0 (or overflowing statistics): ONNX Runtime's (x - mean) / 0 gives
        // inf for some x and NaN at x = mean, which no scale and shift reproduce.
        if let Some(c) = (0..scale.len()).find(|&c| !scale[c].is_finite() || !shift[c].is_finite()) {
            return Err(err!(
                unsupported,
                "BatchNormalization channel {c} (var {}, epsilon {epsilon}) has no finite scale and shift",
                var[c]
            )
            .at_node(&g.context(n)));
        }
        let x = operands[0];
        if foldable_conv(g, x) && fold_stays_finite(g, x, &scale, &shift) {
            scale_conv(g, x, &scale, &shift)?;
            bypass(g, n, x);
            report.fused("batchnorm->conv");
        } else {
            to_affine(g, n, x, scale, shift)?;
            report.changed("batchnorm->mul+add", 1);
        }
    }
    report.changed("removed", g.remove_dead());
    Ok(report)
}

/// Largest weight a fold copies because other nodes share it (larger shared weights are left
/// unfolded: a file must not turn one weight into a copy per reader).
const MAX_SHARED_COPY: usize = 1 << 16;

/// A Conv whose only reader is the node being folded and that has nothing after its bias yet.
pub(crate) fn foldable_conv(g: &Graph, x: NodeId) -> bool {
    matches!(g.op(x), Op::Conv(c) if c.act.is_none() && !c.has_residual)
        && g.has_single_use(x)
        && g.operand(x, 1)
            .is_some_and(|w| g.constant(w).is_some_and(|t| g.has_single_use(w) || t.len() <= MAX_SHARED_COPY))
        && g.op(x)
            .as_conv()
            .and_then(|c| c.bias_slot())
            .is_none_or(|s| g.operand(x, s).is_some_and(|b| g.constant(b).is_some()))
}

/// Whether scaling the conv's weights and bias per channel (and shifting the bias) gives only
/// finite numbers: a fold that overflows (or multiplies a zero weight by infinity) would put
/// inf or NaN where the separate Mul and Add would not.
pub(crate) fn fold_stays_finite(g: &Graph, conv: NodeId, scale: &[f32], shift: &[f32]) -> bool {
    let Some(w) = g.operand(conv, 1).and_then(|w| g.constant(w)).and_then(|t| t.as_f32()) else { return false };
    let per_channel = w.len() / scale.len().max(1);
    let bias = g.op(conv).as_conv().and_then(|c| c.bias_slot()).and_then(|s| g.operand(conv, s));
    let bias = bias.and_then(|b| g.constant(b)).and_then(|t| t.as_f32());
    scale.iter().chain(shift).all(|v| v.is_finite())
        && w.iter().enumerate().all(|(i, v)| (v * scale[i / per_channel.max(1)]).is_finite())
        && bias.is_none_or(|b| b.iter().zip(scale).zip(shift).all(|((b, s), t)| (b * s + t).is_finite()))
}

/// conv' = conv * scale + shift, per output channel, by rewriting its weight and bias.
pub(crate) fn scale_conv(g: &mut Graph, conv: NodeId, scale: &[f32], shift: &[f32]) -> Result<()> {
    let w = private_constant(g, conv, 1)?;
    // A conv may have no output channels at all (ONNX Runtime runs it).
    let per_channel = w.len() / scale.len().max(1);
    if let Some(w) = w.as_f32_mut() {
        for (i, v) in w.iter_mut().enumerate() {
            *v *= scale[i / per_channel];
        }
    }
    add_to_bias(g, conv, |m, b| b * scale[m] + shift[m], scale.len())
}

/// Rewrites the Conv's bias (creating a zero bias if it has none) as `f(channel, bias)`.
pub(crate) fn add_to_bias(g: &mut Graph, conv: NodeId, f: impl Fn(usize, f32) -> f32, channels: usize) -> Result<()> {
    let Op::Conv(c) = g.op(conv).clone() else { return Ok(()) };
    if !c.has_bias {
        let name = format!("{}_bias", g.node(conv).name);
        let zero = g.add_constant(Tensor::zeros(vec![channels]), name, vec![]);
        let mut operands = g.operands(conv);
        operands.insert(2, zero);
        g.set_operands(conv, &operands);
        if let Op::Conv(c) = &mut g.node_mut(conv).op {
            c.has_bias = true;
        }
    }
    let b = private_constant(g, conv, 2)?;
    if let Some(b) = b.as_f32_mut() {
        for (m, v) in b.iter_mut().enumerate() {
            *v = f(m, *v);
        }
    }
    Ok(())
}

/// Replaces BatchNormalization `n` by Mul(x, scale) then Add(.., shift), both per channel.
fn to_affine(g: &mut Graph, n: NodeId, x: NodeId, scale: Vec<f32>, shift: Vec<f32>) -> Result<()> {
    let ty = g.ty(n)?.clone();
    let mut shape = vec![1; ty.rank()];
    shape[1] = scale.len();
    let name = g.node(n).name.clone();
    let origin = g.node(n).origin.clone();
    let s = g.add_constant(Tensor::f32(shape.clone(), scale), format!("{name}_scale"), vec![]);
    let t = g.add_constant(Tensor::f32(shape, shift), format!("{name}_shift"), vec![]);
    let mul = g.add(Op::Binary(BinaryOp::Mul), format!("{name}_mul"), origin.clone(), &[x, s]);
    g.node_mut(mul).ty = Some(ty.clone());
    g.node_mut(n).op = Op::Binary(BinaryOp::Add);
    g.set_operands(n, &[mul, t]);
    Ok(())
}
