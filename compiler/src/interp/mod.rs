//! The reference interpreter: plain scalar Rust over the IR, in ONNX's logical layout.
//!
//! It is the oracle that every pass (and, later, the generated code) is checked against, so it
//! favours obviously-correct loops over speed; only the loop order is chosen so that release
//! builds vectorise the inner loops. It is also the evaluator behind constant folding.

mod conv;
mod elementwise;
mod layout;
mod linear;
mod pool;
pub(crate) mod quant;

use crate::error::{Error, Result, err};
pub(crate) use crate::ir::row_major_strides as strides;
use crate::ir::{DType, Data, Graph, Op, Tensor, TensorType};

/// Runs the graph on `inputs` (one tensor per graph input, in order) and returns the outputs.
pub fn run(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    run_limited(g, inputs, u64::MAX)
}

/// `run`, refusing to hold more than `max_bytes` of computed tensors at once (the CLI passes
/// `Limits::max_arena_bytes`, what the compiled code may use).
pub fn run_limited(g: &Graph, inputs: &[Tensor], max_bytes: u64) -> Result<Vec<Tensor>> {
    if inputs.len() != g.inputs.len() {
        return Err(err!(usage, "the graph has {} inputs, {} were given", g.inputs.len(), inputs.len()));
    }
    for (i, (given, input)) in inputs.iter().zip(&g.inputs).enumerate() {
        let ty = g.ty(input.node)?;
        if given.shape != ty.shape || given.dtype != ty.dtype {
            return Err(err!(usage, "input {i} ('{}') should be {ty}, got {}", input.name, given.type_of()));
        }
    }
    let order = g.topo_order()?;
    let mut uses = vec![0usize; g.node_bound()];
    for &n in &order {
        uses[n.index()] = g.users(n).len();
    }
    enum Val<'g> {
        Borrowed(&'g Tensor),
        Owned(Tensor),
    }
    impl Val<'_> {
        fn get(&self) -> &Tensor {
            match self {
                Val::Borrowed(t) => t,
                Val::Owned(t) => t,
            }
        }
    }
    let mut values: Vec<Option<Val>> = (0..g.node_bound()).map(|_| None).collect();
    let bytes = |t: &TensorType| t.elements() as u64 * 4;
    let mut live = 0u64;
    for &n in &order {
        let node = g.node(n);
        let val = match &node.op {
            Op::Input { index } => Val::Borrowed(&inputs[*index]),
            Op::Constant(t) => Val::Borrowed(t),
            op => {
                let operands = g.operands(n);
                let args: Vec<&Tensor> = operands
                    .iter()
                    .map(|o| values[o.index()].as_ref().map(Val::get))
                    .collect::<Option<_>>()
                    .ok_or_else(|| Error::internal("operand evaluated out of order"))?;
                let ty = g.ty(n)?;
                live += bytes(ty);
                if live > max_bytes {
                    return Err(err!(
                        limit,
                        "the reference interpreter would hold {live} bytes of tensors at once, more than the limit of {max_bytes} (Limits::max_arena_bytes)"
                    )
                    .at_node(&g.context(n)));
                }
                let out = eval(op, &args, ty).map_err(|e| e.at_node(&g.context(n)))?;
                for o in operands {
                    uses[o.index()] -= 1;
                    if uses[o.index()] == 0
                        && !g.is_output(o)
                        && let Some(Val::Owned(t)) = values[o.index()].take()
                    {
                        live -= bytes(&t.type_of());
                    }
                }
                Val::Owned(out)
            }
        };
        values[n.index()] = Some(val);
    }
    g.outputs()
        .iter()
        .map(|o| {
            values[o.node.index()]
                .as_ref()
                .map(|v| v.get().clone())
                .ok_or_else(|| Error::internal(format!("output '{}' was not computed", o.name)))
        })
        .collect()
}

/// Evaluates one op on concrete operands; `out` is the node's inferred type.
pub fn eval(op: &Op, args: &[&Tensor], out: &TensorType) -> Result<Tensor> {
    let f = |i: usize| -> Result<&[f32]> {
        args[i].as_f32().ok_or_else(|| err!(internal, "{} operand {i} is not float", op.name()))
    };
    let t = match op {
        Op::Input { .. } => return Err(Error::internal("graph inputs are not evaluated")),
        Op::Constant(t) => t.clone(),
        Op::Conv(c) => conv::conv(c, args, out)?,
        Op::Gemm(gm) => linear::gemm(gm, args, out)?,
        Op::MatMul => linear::matmul(args, out)?,
        Op::BatchNorm { epsilon } => elementwise::batch_norm(*epsilon, args)?,
        Op::Activation(a) => Tensor::f32(out.shape.clone(), f(0)?.iter().map(|&x| a.apply(x)).collect()),
        Op::Binary(b) => elementwise::binary(*b, args[0], args[1], out)?,
        Op::GlobalAveragePool => pool::global_average_pool(args[0], out)?,
        Op::Pool(p) => pool::pool(p, args[0], out)?,
        Op::ReduceMean { axes, .. } => pool::reduce_mean(axes, args[0], out)?,
        Op::Reshape { .. }
        | Op::Flatten { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::View { .. }
        | Op::Identity { .. } => Tensor { dtype: args[0].dtype, shape: out.shape.clone(), data: args[0].data.clone() },
        Op::Transpose { perm } => layout::transpose(args[0], perm),
        Op::Pad { pads, value, .. } => layout::pad(args[0], pads, *value, out),
        Op::Softmax { axis, coerce_2d } => elementwise::softmax(args[0], *axis, *coerce_2d)?,
        Op::Shape { start, end } => {
            let (s, e) = crate::ir::infer::shape_range(args[0].shape.len(), *start, *end);
            Tensor::i64_vec(args[0].shape[s..e.max(s)].iter().map(|&d| d as i64).collect())
        }
        Op::Gather { axis } => layout::gather(args[0], args[1], *axis, out)?,
        Op::Slice { starts, ends, axes, steps } => layout::slice(args[0], starts, ends, axes, steps, out)?,
        Op::Concat { axis } => layout::concat(args, *axis, out)?,
        Op::Cast { to } => cast(args[0], *to)?,
        Op::Quantize(p) => quant::quantize(p, args[0], out)?,
        Op::Dequantize(p) => quant::dequantize(p, args[0], out)?,
        Op::QConv(c) => quant::conv(c, args, out)?,
        Op::QGemm(g) => quant::gemm(g, args, out)?,
        Op::QBinary(b) => quant::binary(b, args, out)?,
        Op::QPool(p) => quant::pool(p, args[0], out)?,
        Op::QLookup(l) => quant::lookup(l, args[0], out)?,
    };
    if t.shape != out.shape || t.dtype != out.dtype {
        return Err(err!(internal, "{} produced {} where {out} was inferred", op.name(), t.type_of()));
    }
    Ok(t)
}

/// ONNX Cast: integers to integers keep their low bits (two's complement), anything to bool is
/// `!= 0`, integers to float round to nearest, floats to integers truncate toward zero. A float
/// outside the target's range (or NaN) has no defined result in ONNX and is refused.
fn cast(x: &Tensor, to: DType) -> Result<Tensor> {
    let data = match &x.data {
        Data::F32(v) if to.is_float() => Data::F32(v.clone()),
        Data::I64(v) if to.is_float() => Data::F32(v.iter().map(|&i| i as f32).collect::<Vec<_>>().into()),
        Data::F32(v) if to == DType::Bool => Data::I64(v.iter().map(|&f| (f != 0.0) as i64).collect::<Vec<_>>().into()),
        Data::F32(v) => {
            let (lo, hi) = to.int_range().ok_or_else(|| err!(internal, "Cast to {to}"))?;
            let int = |f: f32| {
                let t = f.trunc() as f64;
                // `hi + 1` exactly, as f64: 2^63 for i64, whose hi itself rounds up to 2^63.
                if t >= lo as f64 && t < hi as f64 + 1.0 {
                    Ok(t as i64)
                } else {
                    Err(err!(invalid, "Cast of {f} to {to} is out of range (ONNX leaves the result undefined)"))
                }
            };
            Data::I64(v.iter().map(|&f| int(f)).collect::<Result<Vec<_>>>()?.into())
        }
        Data::I64(v) => {
            let wrap = |i: i64| to.wrap(i).ok_or_else(|| err!(unsupported, "Cast of {i} to {to} (above 2^63 - 1)"));
            Data::I64(v.iter().map(|&i| wrap(i)).collect::<Result<Vec<_>>>()?.into())
        }
    };
    Ok(Tensor { dtype: to, shape: x.shape.clone(), data })
}

/// The value of a node when it can be known at compile time from its operands: Shape of a
/// statically shaped tensor, or small integer computations on known values. Used by shape
/// inference so that a Reshape fed by a shape computation has a known target.
pub fn known_value(op: &Op, types: &[&TensorType], values: &[Option<&Tensor>], ty: &TensorType) -> Option<Tensor> {
    match op {
        Op::Constant(t) => Some(t.clone()),
        Op::Input { .. } => None,
        Op::Shape { start, end } => {
            let shape = &types.first()?.shape;
            let (s, e) = crate::ir::infer::shape_range(shape.len(), *start, *end);
            Some(Tensor::i64_vec(shape[s..e.max(s)].iter().map(|&d| d as i64).collect()))
        }
        _ if ty.dtype.is_int() && ty.elements() <= 4096 => {
            let args: Option<Vec<&Tensor>> = values.iter().copied().collect();
            eval(op, &args?, ty).ok()
        }
        _ => None,
    }
}

/// Calls `f(flat_output_index, multi_index)` for every element of `shape`, in row-major order.
pub(crate) fn for_each_index(shape: &[usize], mut f: impl FnMut(usize, &[usize])) {
    let total: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for flat in 0..total {
        f(flat, &idx);
        for a in (0..shape.len()).rev() {
            idx[a] += 1;
            if idx[a] < shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
}
