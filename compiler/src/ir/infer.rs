//! Type rules: the output type of every op from its operands' types (and, for ops whose output
//! shape depends on an operand's value, such as Reshape, from that value when it is known).

use super::op::Op;
use super::tensor::{DType, Tensor, TensorType};
use crate::error::{Error, Result, err};

/// Numpy-style broadcast of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Normalises a possibly negative axis against `rank`.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(err!(invalid, "axis {axis} is out of range for a tensor of rank {rank}"));
    }
    Ok(if axis < 0 { (axis + r) as usize } else { axis as usize })
}

fn expect_float(t: &TensorType, what: &str) -> Result<()> {
    if t.dtype != DType::F32 {
        return Err(err!(unsupported, "{what} must be float32, got {}", t.dtype));
    }
    Ok(())
}

fn expect_rank(t: &TensorType, rank: usize, what: &str) -> Result<()> {
    if t.rank() != rank {
        return Err(err!(invalid, "{what} must have rank {rank}, got shape {:?}", t.shape));
    }
    Ok(())
}

/// Computes the output type of `op`. `inputs[i]` is the type of operand `i`; `values[i]` is its
/// value when known at compile time (constants, and shape computations folded on the way).
pub fn infer(op: &Op, inputs: &[&TensorType], values: &[Option<&Tensor>]) -> Result<TensorType> {
    let (lo, hi) = op.arity();
    if inputs.len() < lo || inputs.len() > hi {
        return Err(err!(internal, "{} has {} operands, expected {lo}..={hi}", op.name(), inputs.len()));
    }
    let x = inputs.first().copied();
    match op {
        Op::Input { .. } => Err(err!(internal, "graph inputs are typed by the importer")),
        Op::Constant(t) => Ok(t.type_of()),
        Op::Conv(c) => {
            let (x, w) = (inputs[0], inputs[1]);
            expect_float(x, "Conv input")?;
            expect_float(w, "Conv weight")?;
            let out = TensorType::f32(conv_shape(&c.window, c.group, x, w, c.bias_slot().map(|s| inputs[s]))?);
            if let Some(s) = c.residual_slot()
                && inputs[s].shape != out.shape
            {
                return Err(err!(
                    invalid,
                    "residual shape {:?} differs from the output {:?}",
                    inputs[s].shape,
                    out.shape
                ));
            }
            Ok(out)
        }
        Op::Gemm(gm) => {
            let (a, b) = (inputs[0], inputs[1]);
            expect_float(a, "Gemm A")?;
            expect_float(b, "Gemm B")?;
            expect_rank(a, 2, "Gemm A")?;
            expect_rank(b, 2, "Gemm B")?;
            let (m, k) = if gm.trans_a { (a.shape[1], a.shape[0]) } else { (a.shape[0], a.shape[1]) };
            let (k2, n) = if gm.trans_b { (b.shape[1], b.shape[0]) } else { (b.shape[0], b.shape[1]) };
            if k != k2 {
                return Err(err!(invalid, "Gemm inner dimensions differ: A {:?} and B {:?}", a.shape, b.shape));
            }
            if gm.has_c {
                let c = inputs[2];
                if broadcast(&c.shape, &[m, n]).as_deref() != Some(&[m, n][..]) {
                    return Err(err!(invalid, "Gemm C {:?} does not broadcast to [{m}, {n}]", c.shape));
                }
            }
            Ok(TensorType::f32(vec![m, n]))
        }
        Op::MatMul => {
            let (a, b) = (inputs[0], inputs[1]);
            expect_float(a, "MatMul A")?;
            expect_float(b, "MatMul B")?;
            matmul_shape(&a.shape, &b.shape).map(TensorType::f32)
        }
        Op::BatchNorm { .. } => {
            let x = inputs[0];
            expect_float(x, "BatchNormalization input")?;
            if x.rank() < 2 {
                return Err(err!(invalid, "BatchNormalization input must have a channel axis, got {:?}", x.shape));
            }
            for (i, p) in inputs[1..].iter().enumerate() {
                if p.shape != [x.shape[1]] {
                    return Err(err!(
                        invalid,
                        "BatchNormalization parameter {} has shape {:?}, expected [{}]",
                        i + 1,
                        p.shape,
                        x.shape[1]
                    ));
                }
            }
            Ok(x.clone())
        }
        Op::Activation(_) => {
            let x = inputs[0];
            expect_float(x, "activation input")?;
            Ok(x.clone())
        }
        Op::Binary(b) => {
            let (a, c) = (inputs[0], inputs[1]);
            if a.dtype != c.dtype {
                return Err(err!(invalid, "{} operands have different types: {} and {}", b.name(), a.dtype, c.dtype));
            }
            if matches!(a.dtype, DType::F64 | DType::Bool) {
                return Err(err!(unsupported, "{} on {} is not supported", b.name(), a.dtype));
            }
            let shape = broadcast(&a.shape, &c.shape).ok_or_else(|| {
                err!(invalid, "{} operand shapes {:?} and {:?} do not broadcast", b.name(), a.shape, c.shape)
            })?;
            Ok(TensorType::new(a.dtype, shape))
        }
        Op::GlobalAveragePool => {
            let x = inputs[0];
            expect_float(x, "GlobalAveragePool input")?;
            if x.rank() < 3 {
                return Err(err!(invalid, "GlobalAveragePool needs spatial axes, got {:?}", x.shape));
            }
            let mut s = x.shape.clone();
            s[2..].iter_mut().for_each(|d| *d = 1);
            Ok(TensorType::f32(s))
        }
        Op::Pool(p) => {
            let x = inputs[0];
            expect_float(x, "pooling input")?;
            Ok(TensorType::f32(pool_shape(p, x)?))
        }
        Op::ReduceMean { axes, keepdims } => {
            let x = inputs[0];
            expect_float(x, "ReduceMean input")?;
            let reduced = reduced_axes(axes, x.rank())?;
            let mut out = Vec::new();
            for (i, &d) in x.shape.iter().enumerate() {
                if !reduced.contains(&i) {
                    out.push(d);
                } else if *keepdims {
                    out.push(1);
                }
            }
            Ok(TensorType::f32(out))
        }
        Op::Reshape { allow_zero } => {
            let x = inputs[0];
            let Some(shape) = values[1].and_then(|t| t.as_i64()) else {
                return Err(err!(unsupported, "the target shape of Reshape is not known at compile time"));
            };
            let shape = reshape_target(&x.shape, shape, *allow_zero)?;
            Ok(TensorType::new(x.dtype, shape))
        }
        Op::Flatten { axis } => {
            let x = inputs[0];
            let r = x.rank() as i64;
            if *axis < -r || *axis > r {
                return Err(err!(invalid, "Flatten axis {axis} is out of range for rank {r}"));
            }
            let a = if *axis < 0 { axis + r } else { *axis } as usize;
            let outer: usize = x.shape[..a].iter().product();
            let inner: usize = x.shape[a..].iter().product();
            Ok(TensorType::new(x.dtype, vec![outer, inner]))
        }
        Op::Squeeze { axes } => {
            let x = inputs[0];
            let out = match axes {
                None => x.shape.iter().copied().filter(|&d| d != 1).collect(),
                Some(axes) => {
                    let axes: Vec<usize> = axes.iter().map(|&a| normalize_axis(a, x.rank())).collect::<Result<_>>()?;
                    distinct_axes(&axes, "Squeeze")?;
                    for &a in &axes {
                        if x.shape[a] != 1 {
                            return Err(err!(
                                invalid,
                                "Squeeze axis {a} has size {} (shape {:?}), not 1",
                                x.shape[a],
                                x.shape
                            ));
                        }
                    }
                    x.shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
                }
            };
            Ok(TensorType::new(x.dtype, out))
        }
        Op::Unsqueeze { axes } => {
            let x = inputs[0];
            let rank = x.rank() + axes.len();
            let mut axes: Vec<usize> = axes.iter().map(|&a| normalize_axis(a, rank)).collect::<Result<_>>()?;
            distinct_axes(&axes, "Unsqueeze")?;
            axes.sort_unstable();
            let (mut src, mut next) = (x.shape.iter(), axes.iter().peekable());
            let out =
                (0..rank).map(|i| if next.next_if_eq(&&i).is_some() { 1 } else { *src.next().unwrap_or(&1) }).collect();
            Ok(TensorType::new(x.dtype, out))
        }
        Op::View { shape } => {
            let x = inputs[0];
            if shape.iter().product::<usize>() != x.elements() {
                return Err(err!(invalid, "cannot view {:?} as {shape:?}", x.shape));
            }
            Ok(TensorType::new(x.dtype, shape.clone()))
        }
        Op::Transpose { perm } => {
            let x = inputs[0];
            let mut seen = vec![false; x.rank()];
            if perm.len() != x.rank() || perm.iter().any(|&p| p >= x.rank() || std::mem::replace(&mut seen[p], true)) {
                return Err(err!(
                    invalid,
                    "perm {perm:?} is not a permutation of the {} axes of {:?}",
                    x.rank(),
                    x.shape
                ));
            }
            Ok(TensorType::new(x.dtype, perm.iter().map(|&p| x.shape[p]).collect()))
        }
        Op::Pad { pads, axes, .. } => {
            let x = inputs[0];
            if axes.is_some() {
                return Err(err!(invalid, "Pad axes {axes:?} do not fit the input {:?} and pads {pads:?}", x.shape));
            }
            expect_float(x, "Pad input")?;
            let r = x.rank();
            if pads.len() != 2 * r {
                return Err(err!(invalid, "Pad has {} pads for a tensor of rank {r}", pads.len()));
            }
            // As for Conv pads: no pad is larger than any tensor may be, so offsets stay small.
            if let Some(p) = pads.iter().find(|p| p.unsigned_abs() > i32::MAX as u64) {
                return Err(err!(invalid, "Pad's pad {p} is larger than any tensor"));
            }
            let mut out = Vec::with_capacity(r);
            for i in 0..r {
                let d = (x.shape[i] as i64).checked_add(pads[i]).and_then(|d| d.checked_add(pads[i + r]));
                match d {
                    Some(d) if d >= 0 => out.push(d as usize),
                    Some(_) => return Err(err!(invalid, "Pad makes axis {i} negative")),
                    None => {
                        return Err(err!(invalid, "Pad's pads {} and {} for axis {i} overflow", pads[i], pads[i + r]));
                    }
                }
            }
            Ok(TensorType::f32(out))
        }
        Op::Softmax { axis, .. } => {
            let x = inputs[0];
            expect_float(x, "Softmax input")?;
            normalize_axis(*axis, x.rank())?;
            Ok(x.clone())
        }
        Op::Shape { start, end } => {
            let x = inputs[0];
            let (s, e) = shape_range(x.rank(), *start, *end);
            Ok(TensorType::new(DType::I64, vec![e.saturating_sub(s)]))
        }
        Op::Gather { axis } => {
            let (data, idx) = (inputs[0], inputs[1]);
            if !matches!(idx.dtype, DType::I32 | DType::I64) {
                return Err(err!(invalid, "Gather indices must be int32 or int64, got {}", idx.dtype));
            }
            let a = normalize_axis(*axis, data.rank())?;
            if let Some(indices) = values[1].and_then(|t| t.as_i64()) {
                for &i in indices {
                    gather_index(i, data.shape[a])?;
                }
            }
            let mut out = data.shape[..a].to_vec();
            out.extend_from_slice(&idx.shape);
            out.extend_from_slice(&data.shape[a + 1..]);
            Ok(TensorType::new(data.dtype, out))
        }
        Op::Slice { starts, ends, axes, steps } => {
            let x = inputs[0];
            let mut out = x.shape.clone();
            let normalized: Vec<usize> = axes.iter().map(|&a| normalize_axis(a, x.rank())).collect::<Result<_>>()?;
            distinct_axes(&normalized, "Slice")?;
            for (i, &a) in normalized.iter().enumerate() {
                let (_, len) = slice_range(x.shape[a], starts[i], ends[i], steps[i])?;
                out[a] = len;
            }
            Ok(TensorType::new(x.dtype, out))
        }
        Op::Concat { axis } => {
            let first = inputs[0];
            let a = normalize_axis(*axis, first.rank())?;
            let mut out = first.shape.clone();
            for t in &inputs[1..] {
                let same_rest = t.rank() == first.rank()
                    && t.shape.iter().zip(&first.shape).enumerate().all(|(i, (x, y))| i == a || x == y);
                if !same_rest || t.dtype != first.dtype {
                    return Err(err!(
                        invalid,
                        "Concat operands {:?} and {:?} differ outside axis {a}",
                        first.shape,
                        t.shape
                    ));
                }
                out[a] += t.shape[a];
            }
            Ok(TensorType::new(first.dtype, out))
        }
        Op::Cast { to } => Ok(TensorType::new(*to, x.map(|t| t.shape.clone()).unwrap_or_default())),
        Op::Identity { .. } => Ok(inputs[0].clone()),
        Op::Quantize(q) => {
            expect_float(x.unwrap_or(inputs[0]), "QuantizeLinear input")?;
            q.check("QuantizeLinear", false)?;
            q.axis_in(&inputs[0].shape, "QuantizeLinear")?;
            Ok(TensorType::new(q.dtype, inputs[0].shape.clone()))
        }
        Op::Dequantize(q) => {
            q.check("DequantizeLinear", true)?;
            expect_type(inputs[0], q.dtype, "DequantizeLinear input")?;
            q.axis_in(&inputs[0].shape, "DequantizeLinear")?;
            Ok(TensorType::f32(inputs[0].shape.clone()))
        }
        Op::QConv(c) => {
            let (x, w) = (inputs[0], inputs[1]);
            per_tensor(&c.x, x, "QLinearConv input")?;
            per_tensor(&c.y, x, "QLinearConv output")?;
            c.w.check("QLinearConv weight", false)?;
            expect_type(w, c.w.dtype, "QLinearConv weight")?;
            if c.w.axis_in(&w.shape, "QLinearConv weight")?.is_some_and(|a| a != 0) {
                return Err(err!(unsupported, "QLinearConv weight scales must run along the output channels (axis 0)"));
            }
            let bias = c.has_bias.then(|| inputs[2]);
            if let Some(b) = bias {
                expect_type(b, DType::I32, "QLinearConv bias")?;
            }
            check_clamp(c.clamp, &c.y)?;
            let shape = conv_shape(&c.window, c.group, x, w, bias)?;
            check_accumulator(w.shape[1..].iter().product(), values.get(2).copied().flatten())?;
            Ok(TensorType::new(c.y.dtype, shape))
        }
        Op::QGemm(g) => {
            let (a, b) = (inputs[0], inputs[1]);
            per_tensor(&g.a, a, "QGemm A")?;
            per_tensor(&g.y, a, "QGemm output")?;
            g.b.check("QGemm B", false)?;
            expect_type(b, g.b.dtype, "QGemm B")?;
            expect_rank(a, 2, "QGemm A")?;
            expect_rank(b, 2, "QGemm B")?;
            let (m, k) = if g.trans_a { (a.shape[1], a.shape[0]) } else { (a.shape[0], a.shape[1]) };
            let (k2, n) = if g.trans_b { (b.shape[1], b.shape[0]) } else { (b.shape[0], b.shape[1]) };
            if k != k2 {
                return Err(err!(invalid, "QGemm inner dimensions differ: A {:?} and B {:?}", a.shape, b.shape));
            }
            let column_axis = if g.trans_b { 0 } else { 1 };
            if g.b.axis_in(&b.shape, "QGemm B")?.is_some_and(|ax| ax != column_axis) {
                return Err(err!(unsupported, "QGemm B scales must run along the output columns"));
            }
            if g.has_c {
                let c = inputs[2];
                expect_type(c, DType::I32, "QGemm C")?;
                if broadcast(&c.shape, &[m, n]).as_deref() != Some(&[m, n][..]) {
                    return Err(err!(invalid, "QGemm C {:?} does not broadcast to [{m}, {n}]", c.shape));
                }
            }
            check_clamp(g.clamp, &g.y)?;
            check_accumulator(k, values.get(2).copied().flatten())?;
            Ok(TensorType::new(g.y.dtype, vec![m, n]))
        }
        Op::QBinary(b) => {
            let (a, c) = (inputs[0], inputs[1]);
            per_tensor(&b.a, a, "quantised A")?;
            per_tensor(&b.b, c, "quantised B")?;
            per_tensor(&b.y, a, "quantised output")?;
            check_clamp(b.clamp, &b.y)?;
            let shape = broadcast(&a.shape, &c.shape)
                .ok_or_else(|| err!(invalid, "operand shapes {:?} and {:?} do not broadcast", a.shape, c.shape))?;
            Ok(TensorType::new(b.y.dtype, shape))
        }
        Op::QPool(p) => {
            let x = inputs[0];
            per_tensor(&p.x, x, "quantised pooling input")?;
            per_tensor(&p.y, x, "quantised pooling output")?;
            let shape = match &p.pool {
                Some(pool) => pool_shape(pool, x)?,
                None => {
                    expect_rank(x, 4, "QLinearGlobalAveragePool input")?;
                    vec![x.shape[0], x.shape[1], 1, 1]
                }
            };
            Ok(TensorType::new(p.y.dtype, shape))
        }
        Op::QLookup(l) => {
            expect_type(inputs[0], l.from, "lookup input")?;
            let (lo, hi) = super::quant::int_range(l.to);
            if !matches!(l.from, DType::U8 | DType::I8)
                || l.table.len() != 256
                || l.table.iter().any(|v| !(lo..=hi).contains(v))
            {
                return Err(err!(internal, "a lookup table must map the 256 values of u8 or i8 into {}", l.to));
            }
            Ok(TensorType::new(l.to, inputs[0].shape.clone()))
        }
    }
}

fn expect_type(t: &TensorType, dtype: DType, what: &str) -> Result<()> {
    if t.dtype != dtype {
        return Err(err!(invalid, "{what} must be {dtype}, got {}", t.dtype));
    }
    Ok(())
}

/// Checks per-tensor parameters of a u8/i8 operand (or of an output, where `t` only gives the
/// context): the type matches and there is one scale.
fn per_tensor(q: &super::quant::Quant, t: &TensorType, what: &str) -> Result<()> {
    q.check(what, false)?;
    if q.single().is_none() {
        return Err(err!(unsupported, "{what}: only one scale and zero point per tensor is supported here"));
    }
    if what.ends_with("output") {
        return Ok(());
    }
    expect_type(t, q.dtype, what)
}

/// The int32 accumulator of a quantised product of depth `k` cannot overflow: `k` products of
/// at most 255 * 255 and a bias each stay within 2^30.
fn check_accumulator(k: usize, bias: Option<&Tensor>) -> Result<()> {
    const BOUND: i64 = 1 << 30;
    if k as u64 * 255 * 255 > BOUND as u64 {
        return Err(err!(unsupported, "a quantised product over {k} values could overflow its int32 accumulator"));
    }
    if let Some(b) = bias.and_then(Tensor::as_i64)
        && let Some(v) = b.iter().find(|v| v.abs() > BOUND)
    {
        return Err(err!(unsupported, "a quantised bias of {v} could overflow the int32 accumulator"));
    }
    Ok(())
}

fn check_clamp(clamp: (i32, i32), y: &super::quant::Quant) -> Result<()> {
    let (lo, hi) = y.range();
    if clamp.0 < lo || clamp.1 > hi {
        return Err(err!(internal, "clamp {clamp:?} exceeds the range of {}", y.dtype));
    }
    Ok(())
}

/// Output shape of a 2-D convolution (float or quantised) with its operand checks.
fn conv_shape(
    window: &super::op::Window,
    g: usize,
    x: &TensorType,
    w: &TensorType,
    bias: Option<&TensorType>,
) -> Result<Vec<usize>> {
    check_window(window)?;
    expect_rank(x, 4, "Conv input (only 2-D convolution is supported)")?;
    expect_rank(w, 4, "Conv weight")?;
    let (n, ch, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (m, cpg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    if g == 0 || ch % g != 0 || m % g != 0 {
        return Err(err!(invalid, "group {g} does not divide the input channels ({ch}) and output channels ({m})"));
    }
    if cpg * g != ch {
        return Err(err!(
            invalid,
            "weight {:?} expects {} input channels (group {g}) but the input {:?} has {ch}",
            w.shape,
            cpg * g,
            x.shape
        ));
    }
    if [kh, kw] != window.kernel {
        return Err(err!(invalid, "kernel_shape {:?} disagrees with the weight shape {:?}", window.kernel, w.shape));
    }
    if let Some(b) = bias
        && b.shape != [m]
    {
        return Err(err!(invalid, "bias shape {:?} should be [{m}]", b.shape));
    }
    let mut win = *window;
    win.resolve_auto_pad([h, wd]).map_err(Error::unsupported)?;
    let (Some(oh), Some(ow)) = (win.output_size(0, h, false), win.output_size(1, wd, false)) else {
        return Err(err!(invalid, "kernel {kh}x{kw} is larger than the padded input {h}x{wd}"));
    };
    Ok(vec![n, m, oh, ow])
}

/// Output shape of a 2-D max or average pool.
fn pool_shape(p: &super::op::Pool, x: &TensorType) -> Result<Vec<usize>> {
    check_window(&p.window)?;
    expect_rank(x, 4, "pooling input (only 2-D pooling is supported)")?;
    let (h, w) = (x.shape[2], x.shape[3]);
    let mut win = p.window;
    win.resolve_auto_pad([h, w]).map_err(Error::unsupported)?;
    // ONNX Runtime refuses a pad as large as the kernel, for either kind of pooling.
    if (0..4).any(|i| win.pads[i] >= win.kernel[i % 2]) {
        return Err(err!(invalid, "pads {:?} are not all smaller than the kernel {:?}", win.pads, win.kernel));
    }
    let (Some(oh), Some(ow)) = (win.output_size(0, h, p.ceil_mode), win.output_size(1, w, p.ceil_mode)) else {
        return Err(err!(invalid, "pooling kernel {:?} is larger than the padded input {h}x{w}", win.kernel));
    };
    Ok(vec![x.shape[0], x.shape[1], oh, ow])
}

fn check_window(w: &super::op::Window) -> Result<()> {
    let all = w.kernel.iter().chain(&w.strides).chain(&w.dilations);
    if all.clone().any(|&v| v == 0) {
        return Err(err!(
            invalid,
            "kernel {:?}, strides {:?} and dilations {:?} must all be at least 1",
            w.kernel,
            w.strides,
            w.dilations
        ));
    }
    Ok(())
}

/// Fills in what an op leaves to be derived from its operands' shapes: a Conv kernel taken from
/// the weight when `kernel_shape` is absent (recorded as 0x0), and `auto_pad` turned into pads.
pub fn resolve(op: &mut Op, inputs: &[&TensorType]) {
    let conv_window = |window: &mut super::op::Window| {
        if let (Some(x), Some(w)) = (inputs.first(), inputs.get(1)) {
            if window.kernel == [0, 0] && w.rank() == 4 {
                window.kernel = [w.shape[2], w.shape[3]];
            }
            if x.rank() == 4 && window.kernel.iter().chain(&window.strides).all(|&v| v > 0) {
                // A refusal is reported by `infer`, which resolves again.
                let _ = window.resolve_auto_pad([x.shape[2], x.shape[3]]);
            }
        }
    };
    let pool_window = |window: &mut super::op::Window| {
        if let Some(x) = inputs.first()
            && x.rank() == 4
            && window.kernel.iter().chain(&window.strides).all(|&v| v > 0)
        {
            let _ = window.resolve_auto_pad([x.shape[2], x.shape[3]]);
        }
    };
    match op {
        Op::Conv(c) => conv_window(&mut c.window),
        Op::QConv(c) => conv_window(&mut c.window),
        Op::Pool(p) => pool_window(&mut p.window),
        Op::QPool(super::quant::QPool { pool: Some(p), .. }) => pool_window(&mut p.window),
        // DequantizeLinear without a zero point: 0 of the input's type.
        Op::Dequantize(q) if q.zero_point.is_empty() => {
            if let Some(x) = inputs.first() {
                q.dtype = x.dtype;
                q.zero_point = vec![0; q.scale.len()];
            }
        }
        Op::Transpose { perm } if perm.is_empty() => {
            if let Some(x) = inputs.first() {
                *perm = (0..x.rank()).rev().collect();
            }
        }
        Op::Pad { pads, axes, .. } if axes.is_some() => {
            let (Some(x), Some(ax)) = (inputs.first(), axes.as_ref()) else { return };
            let r = x.rank();
            let normalized: Option<Vec<usize>> = ax.iter().map(|&a| normalize_axis(a, r).ok()).collect();
            if let Some(normalized) = normalized.filter(|n| pads.len() == 2 * n.len()) {
                let mut full = vec![0; 2 * r];
                for (i, &a) in normalized.iter().enumerate() {
                    full[a] = pads[i];
                    full[a + r] = pads[i + normalized.len()];
                }
                *pads = full;
                *axes = None;
            }
        }
        _ => {}
    }
}

/// A Gather index (negative from the end) as a position along an axis of size `dim`.
pub fn gather_index(i: i64, dim: usize) -> Result<usize> {
    let j = if i < 0 { i.checked_add(dim as i64) } else { Some(i) };
    match j {
        Some(j) if (0..dim as i64).contains(&j) => Ok(j as usize),
        _ => Err(err!(invalid, "Gather index {i} is out of range for an axis of size {dim}")),
    }
}

/// Axes a ReduceMean reduces (empty = all).
pub fn reduced_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    if axes.is_empty() {
        return Ok((0..rank).collect());
    }
    let axes: Vec<usize> = axes.iter().map(|&a| normalize_axis(a, rank)).collect::<Result<_>>()?;
    distinct_axes(&axes, "ReduceMean")?;
    Ok(axes)
}

/// Refuses an axis named twice (ONNX Runtime does, for ReduceMean, Slice, Squeeze, Unsqueeze).
pub fn distinct_axes(axes: &[usize], op: &str) -> Result<()> {
    let mut seen = axes.to_vec();
    seen.sort_unstable();
    match seen.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(err!(invalid, "{op} names axis {} more than once", w[0])),
        None => Ok(()),
    }
}

/// ONNX Shape's start/end, clamped.
pub fn shape_range(rank: usize, start: i64, end: Option<i64>) -> (usize, usize) {
    let r = rank as i64;
    let clamp = |v: i64| if v < 0 { (v + r).max(0) } else { v.min(r) } as usize;
    (clamp(start), clamp(end.unwrap_or(r)))
}

/// First index and length of an ONNX slice along an axis of size `dim` (ONNX clamping rules).
pub fn slice_range(dim: usize, start: i64, end: i64, step: i64) -> Result<(i64, usize)> {
    if step == 0 {
        return Err(Error::invalid("Slice step is 0"));
    }
    let d = dim as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (s, e) = (norm(start), norm(end));
    // In i128: `step` may be i64::MAX or i64::MIN, whose magnitude i64 cannot hold.
    let step = step as i128;
    if step > 0 {
        let (s, e) = (s.clamp(0, d), e.clamp(0, d));
        let len = if e > s { (e as i128 - s as i128 + step - 1) / step } else { 0 };
        Ok((s, len as usize))
    } else {
        let (s, e) = (s.clamp(-1, d - 1), e.clamp(-1, d - 1));
        let len = if s > e { (s as i128 - e as i128 - step - 1) / -step } else { 0 };
        Ok((s, len as usize))
    }
}

/// Resolves ONNX Reshape's `0` (copy) and `-1` (infer) entries.
pub fn reshape_target(input: &[usize], shape: &[i64], allow_zero: bool) -> Result<Vec<usize>> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(shape.len());
    let mut infer_at = None;
    for (i, &d) in shape.iter().enumerate() {
        match d {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                out.push(1);
            }
            0 if !allow_zero => {
                let Some(&copied) = input.get(i) else {
                    return Err(err!(invalid, "Reshape copies dimension {i} that the input {input:?} lacks"));
                };
                out.push(copied);
            }
            d if d >= 0 => out.push(d as usize),
            _ => return Err(err!(invalid, "Reshape target {shape:?} is not valid")),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer_at {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(err!(invalid, "cannot reshape {input:?} to {shape:?}"));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(err!(invalid, "cannot reshape {input:?} ({total} elements) to {shape:?}"));
    }
    Ok(out)
}

/// Numpy matmul shape rule.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    if a.is_empty() || b.is_empty() {
        return Err(Error::invalid("MatMul operands must have rank >= 1"));
    }
    let a2 = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
    let b2 = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return Err(err!(invalid, "MatMul inner dimensions differ: {a:?} x {b:?}"));
    }
    let batch = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])
        .ok_or_else(|| err!(invalid, "MatMul batch dimensions of {a:?} and {b:?} do not broadcast"))?;
    let mut out = batch;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(out)
}
