//! 8-bit operations onto the `int8` kernels.
//!
//! Every 8-bit value is stored as u8: an int8 value with zero point `z` is the u8 value
//! `q + 128` with zero point `z + 128` (its byte with the top bit flipped), which stands for
//! the same real numbers, so each kernel handles one activation type. Where the model's input
//! or output is int8, a step flips the bytes on the way in or out. uint8 weights become int8
//! the same way (`w - 128`, zero point `z - 128`); `(w - z)` is unchanged.
//!
//! Per output channel, the kernels get an int32 bias and an f32 multiplier, the same
//! `x_scale * w_scale / y_scale` the interpreter computes (`interp::quant::multiplier`), so
//! that both requantise identically.

use mobilenet_kernels as k;
use mobilenet_kernels::int8::Requant;

use super::{Kernel, Lowering, Region, Value, nhwc, row_major, window_of};
use crate::error::{Result, err};
use crate::interp::quant::multiplier;
use crate::ir::quant::{QBinary, QBinaryKind, QConv, QGemm, QLookup, QPool, Quant};
use crate::ir::{DType, Graph, NodeId, Op, Tensor};

/// The element type of a program's input or output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemType {
    /// float32.
    F32,
    /// uint8.
    U8,
    /// int8 (stored flipped to u8 inside the program).
    I8,
}

impl ElemType {
    /// The type of an IR value, if a program may take or give it.
    pub fn of(d: DType) -> Option<ElemType> {
        match d {
            DType::F32 => Some(ElemType::F32),
            DType::U8 => Some(ElemType::U8),
            DType::I8 => Some(ElemType::I8),
            _ => None,
        }
    }
    /// The Rust type's name.
    pub fn rust(self) -> &'static str {
        match self {
            ElemType::F32 => "f32",
            ElemType::U8 => "u8",
            ElemType::I8 => "i8",
        }
    }
    /// Stored as bytes.
    pub fn is_byte(self) -> bool {
        self != ElemType::F32
    }
}

/// 128 for int8 (its values are stored shifted to u8), 0 for uint8.
fn shift(d: DType) -> i32 {
    if d == DType::I8 { 128 } else { 0 }
}

/// The scale and stored (u8) zero point of an activation, which must have one of each.
fn activation(q: &Quant, what: &str) -> Result<(f32, i32)> {
    match q.single() {
        Some((s, z)) if q.dtype == DType::U8 || q.dtype == DType::I8 => Ok((s, z + shift(q.dtype))),
        _ => Err(err!(
            unsupported,
            "{what} has {} parameters; code generation needs one scale and zero point for 8-bit activations",
            q.describe()
        )),
    }
}

/// Output bounds and zero point, stored as u8.
fn requant(y: &Quant, clamp: (i32, i32)) -> Result<Requant> {
    let (_, zero_point) = activation(y, "the output")?;
    let s = shift(y.dtype);
    Ok(Requant { zero_point, lo: clamp.0 + s, hi: clamp.1 + s })
}

/// The integer values of a constant operand.
fn int_constant<'t>(t: Option<&'t Tensor>, what: &str) -> Result<(&'t Tensor, &'t [i64])> {
    let t = t.ok_or_else(|| err!(unsupported, "the {what} must be a constant"))?;
    let v = t.as_i64().ok_or_else(|| err!(internal, "the {what} is not an integer tensor"))?;
    Ok((t, v))
}

/// Bytes packed four to an f32 word (little-endian), zero-padded.
fn words_of_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            f32::from_le_bytes(w)
        })
        .collect()
}

fn words_of_i16(v: &[i16]) -> Vec<f32> {
    words_of_bytes(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
}

fn words_of_i32(v: &[i32]) -> Vec<f32> {
    v.iter().map(|&x| f32::from_bits(x as u32)).collect()
}

fn to_i32(v: i64) -> Result<i32> {
    i32::try_from(v).map_err(|_| err!(unsupported, "the constant {v} does not fit int32"))
}

impl Lowering<'_> {
    /// A new arena buffer for `elements` bytes.
    fn new_bytes(&mut self, elements: usize) -> Region {
        self.new_buffer(elements.div_ceil(4))
    }

    /// The model's 8-bit input, copied into the arena (flipped to u8 if int8).
    pub(super) fn byte_input(&mut self, dtype: DType, shape: Vec<usize>) -> Result<Value> {
        let len: usize = shape.iter().product();
        let out = self.new_bytes(len);
        self.push(Kernel::Load { len, flip: dtype == DType::I8 }, vec![], out);
        Ok(Value { region: out, strides: row_major(&shape), shape, bytes: true })
    }

    /// Flips an int8 output's stored bytes back to int8.
    pub(super) fn flip_bytes(&mut self, v: Value) -> Result<Value> {
        let v = self.row_major_of(v)?;
        let table: Vec<u8> = (0..=255u8).map(|b| b ^ 0x80).collect();
        let table = self.add_weights(&words_of_bytes(&table))?;
        let len = v.shape.iter().product();
        let out = self.new_bytes(len);
        self.push(Kernel::Lookup { len }, vec![table, v.region], out);
        Ok(Value { region: out, ..v })
    }

    pub(super) fn quantize(&mut self, n: NodeId, q: &Quant, shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        let x = if x.is_nhwc() { x } else { self.row_major_of(x)? };
        let (scale, zero_point) = activation(q, "QuantizeLinear")?;
        let len = shape.iter().product();
        let out = self.new_bytes(len);
        // An NCHW image (the model's input) is quantised straight into NHWC bytes, the
        // layout of the convolutions that read it, instead of a byte copy after.
        let (channels, plane, strides) = match shape[..] {
            [_, c, h, w] if c > 1 && h * w > 1 && !x.is_nhwc() => (c, h * w, nhwc(&shape)),
            _ => (1, len.max(1), x.strides),
        };
        let p = k::int8::convert::Quantize { len, scale, zero_point, lo: 0, hi: 255, channels, plane };
        self.push(Kernel::Quantize(p), vec![x.region], out);
        Ok(Value { region: out, strides, shape, bytes: true })
    }

    pub(super) fn dequantize(&mut self, n: NodeId, q: &Quant, shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        if !x.bytes {
            return Err(err!(unsupported, "DequantizeLinear of a {} tensor at run time is not supported", q.dtype));
        }
        let x = if x.is_nhwc() { x } else { self.row_major_of(x)? };
        let (scale, zero_point) = activation(q, "DequantizeLinear")?;
        let len = shape.iter().product();
        let out = self.new_buffer(len);
        self.push(Kernel::Dequantize(k::int8::convert::Dequantize { len, scale, zero_point }), vec![x.region], out);
        Ok(Value { region: out, strides: x.strides, shape, bytes: false })
    }

    pub(super) fn lookup(&mut self, n: NodeId, l: &QLookup, shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        let x = if x.is_nhwc() { x } else { self.row_major_of(x)? };
        // Indexed by the stored byte, giving the stored byte.
        let (sf, st) = (shift(l.from), shift(l.to));
        let table: Vec<u8> = (0..256).map(|b| (l.get(b - sf) + st) as u8).collect();
        let table = self.add_weights(&words_of_bytes(&table))?;
        let len = shape.iter().product();
        let out = self.new_bytes(len);
        self.push(Kernel::Lookup { len }, vec![table, x.region], out);
        Ok(Value { region: out, strides: x.strides, shape, bytes: true })
    }

    pub(super) fn qconv(&mut self, n: NodeId, c: &QConv, shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        let x = self.nhwc_of(x)?;
        let out = self.new_bytes(shape.iter().product());
        let (kernel, reads) = self.conv_plan(n, c, &x.shape, &shape)?;
        let kernel = match kernel {
            ConvPlan::Pointwise(g) => Kernel::QGemm(g),
            ConvPlan::Depthwise(d) => Kernel::QDepthwise(d),
            ConvPlan::Gemm(g) => Kernel::QConvGemm(g),
            ConvPlan::Grouped(g) => Kernel::QConv2d(g),
        };
        self.push(kernel, [vec![x.region], reads].concat(), out);
        Ok(Value { region: out, strides: nhwc(&shape), shape, bytes: true })
    }

    /// The kernel a quantised convolution runs on, with its weights packed into the blob (the
    /// three regions after the input, in the kernel's order).
    fn conv_plan(
        &mut self,
        n: NodeId,
        c: &QConv,
        in_shape: &[usize],
        shape: &[usize],
    ) -> Result<(ConvPlan, Vec<Region>)> {
        let [images, in_c, in_h, in_w] = in_shape[..] else {
            return Err(err!(internal, "QLinearConv input is not 4-D"));
        };
        let [_, out_c, out_h, out_w] = shape[..] else { return Err(err!(internal, "QLinearConv output is not 4-D")) };
        let (wt, w) = int_constant(self.g.operand(n, 1).and_then(|o| self.g.constant(o)), "QLinearConv weight")?;
        let [_, cig, kh, kw] = wt.shape[..] else { return Err(err!(internal, "QLinearConv weight is not 4-D")) };
        let (_, x_zero) = activation(&c.x, "the input")?;
        let requant = requant(&c.y, c.clamp)?;
        let bias: Vec<i32> = if c.has_bias {
            let (_, b) = int_constant(self.g.operand(n, 2).and_then(|o| self.g.constant(o)), "QLinearConv bias")?;
            b.iter().map(|&v| to_i32(v)).collect::<Result<_>>()?
        } else {
            vec![0; out_c]
        };
        let mult: Vec<f32> = (0..out_c).map(|m| multiplier(&c.x, &c.w, m, &c.y)).collect();
        // Weights as int8 with their zero points (uint8 ones shifted by 128).
        let w_shift = if c.w.dtype == DType::U8 { -128 } else { 0 };
        let w8 = |i: usize| w[i] as i32 + w_shift;
        let zw = |m: usize| c.w.zero_point_at(m) + w_shift;
        let zero: Vec<i32> = (0..out_c).map(zw).collect();
        let win = &c.window;
        let none = Region { loc: super::Loc::Input, offset: 0, len: 0 };
        let gemm_args = |b, k| QGemmArgs {
            a: none,
            m: 0,
            k,
            n: out_c,
            b,
            zero: &zero,
            bias: &bias,
            mult: &mult,
            a_zero: x_zero,
            requant,
            out: none,
        };
        match conv_kind(c, in_shape, shape, &wt.shape) {
            QConvKind::Pointwise => {
                // A GEMM over the pixels: a = [pixels][in_c], b = w transposed, [in_c][out_c].
                let b: Vec<i8> = (0..in_c * out_c).map(|i| w8((i % out_c) * in_c + i / out_c) as i8).collect();
                let (reads, row_sums) = self.gemm_constants(&gemm_args(&b, in_c))?;
                let p = k::int8::gemm::QGemm { m: images * in_h * in_w, k: in_c, n: out_c, row_sums, requant };
                Ok((ConvPlan::Pointwise(p), reads))
            }
            QConvKind::Depthwise => {
                // Weights `w - w_zero` as int16, [kh][kw][c], then packed for the kernel.
                let mut taps16 = vec![0i16; kh * kw * out_c];
                for ch in 0..out_c {
                    for t in 0..kh * kw {
                        taps16[t * out_c + ch] = (w8(ch * kh * kw + t) - zw(ch)) as i16;
                    }
                }
                let (taps, pc) = (kh * kw, k::int8::depthwise::padded(out_c));
                let (mut pw, mut pb, mut pm) =
                    (vec![0i16; k::int8::depthwise::packed_len(out_c, taps)], vec![0i32; pc], vec![0f32; pc]);
                k::int8::depthwise::pack(&taps16, &bias, &mult, out_c, taps, x_zero, (&mut pw, &mut pb, &mut pm));
                let reads = self.weight_reads(&words_of_i16(&pw), &pb, &pm)?;
                let p = k::int8::depthwise::QDepthwise {
                    images,
                    channels: out_c,
                    in_h,
                    in_w,
                    out_h,
                    out_w,
                    win: window_of(win),
                    x_zero,
                    requant,
                };
                Ok((ConvPlan::Depthwise(p), reads))
            }
            QConvKind::Gemm => {
                // A GEMM over gathered windows: b = [kh][kw][in_c] x [out_c].
                let kk = kh * kw * in_c;
                let b: Vec<i8> = (0..kk * out_c)
                    .map(|i| {
                        let (row, m) = (i / out_c, i % out_c);
                        let (t, ci) = (row / in_c, row % in_c);
                        w8((m * in_c + ci) * kh * kw + t) as i8
                    })
                    .collect();
                let (reads, row_sums) = self.gemm_constants(&gemm_args(&b, kk))?;
                let p = k::int8::conv::QConvGemm {
                    images,
                    in_c,
                    in_h,
                    in_w,
                    out_c,
                    out_h,
                    out_w,
                    win: window_of(win),
                    x_zero,
                    row_sums,
                    requant,
                };
                Ok((ConvPlan::Gemm(p), reads))
            }
            QConvKind::Grouped => {
                // Weights `w - w_zero` as int16, [group][kh][kw][cig][mg].
                let (g, mg) = (c.group, out_c / c.group);
                let mut packed = vec![0i16; w.len()];
                for oc in 0..out_c {
                    let (gi, mo) = (oc / mg, oc % mg);
                    for ci in 0..cig {
                        for t in 0..kh * kw {
                            packed[((gi * kh * kw + t) * cig + ci) * mg + mo] =
                                (w8((oc * cig + ci) * kh * kw + t) - zw(oc)) as i16;
                        }
                    }
                }
                let p = k::int8::conv::QConv2d {
                    images,
                    in_c,
                    in_h,
                    in_w,
                    out_c,
                    out_h,
                    out_w,
                    groups: g,
                    win: window_of(win),
                    x_zero,
                    requant,
                };
                let reads = self.weight_reads(&words_of_i16(&packed), &bias, &mult)?;
                Ok((ConvPlan::Grouped(p), reads))
            }
        }
    }

    /// An 8-bit block (`fusable_blocks`): [stem | expand] -> depthwise -> project as one step.
    pub(super) fn qblock(&mut self, nodes: &[NodeId]) -> Result<Value> {
        let (first, dw, project) = match nodes[..] {
            [f, d, p] => (Some(f), d, p),
            [d, p] => (None, d, p),
            _ => return Err(err!(internal, "an 8-bit block of {} convolutions", nodes.len())),
        };
        let entry = nodes[0];
        let x = self.operand(entry, 0)?;
        let x = self.nhwc_of(x)?;
        let [images, in_c, in_h, in_w] = x.shape[..] else { return Err(err!(internal, "block input is not 4-D")) };
        let qconv = |n: NodeId| match self.g.op(n) {
            Op::QConv(c) => Ok(c.clone()),
            _ => Err(err!(internal, "an 8-bit block holds a {}", self.g.op(n).name())),
        };
        let empty = || Region { loc: super::Loc::Weights, offset: 0, len: 0 };
        let (first_kernel, first_reads, dw_in) = match first {
            Some(f) => {
                let shape = self.shape(f)?;
                let (plan, reads) = self.conv_plan(f, &qconv(f)?, &x.shape, &shape)?;
                let first = match plan {
                    ConvPlan::Pointwise(g) => k::int8::fused::First::Expand(g),
                    ConvPlan::Gemm(g) => k::int8::fused::First::Stem(g),
                    _ => return Err(err!(internal, "an 8-bit block starts with a grouped or depthwise conv")),
                };
                (first, reads, shape)
            }
            None => (k::int8::fused::First::None, vec![empty(), empty(), empty()], x.shape.clone()),
        };
        let dw_shape = self.shape(dw)?;
        let (ConvPlan::Depthwise(dwp), dw_reads) = self.conv_plan(dw, &qconv(dw)?, &dw_in, &dw_shape)? else {
            return Err(err!(internal, "the block's middle conv is not depthwise"));
        };
        let shape = self.shape(project)?;
        let (ConvPlan::Pointwise(pp), project_reads) = self.conv_plan(project, &qconv(project)?, &dw_shape, &shape)?
        else {
            return Err(err!(internal, "the block's last conv is not pointwise"));
        };
        let p = k::int8::fused::QBlock { images, in_h, in_w, in_c, first: first_kernel, dw: dwp, project: pp };
        let out = self.new_bytes(shape.iter().product());
        let reads = [vec![x.region], first_reads, dw_reads, project_reads].concat();
        self.push(Kernel::QBlock(p), reads, out);
        let scratch = self.new_buffer(self.max_threads * p.scratch_words());
        if let Some(step) = self.steps.last_mut() {
            step.scratch = Some(scratch);
        }
        Ok(Value { region: out, strides: nhwc(&shape), shape, bytes: true })
    }

    fn weight_reads(&mut self, weights: &[f32], bias: &[i32], mult: &[f32]) -> Result<Vec<Region>> {
        Ok(vec![self.add_weights(weights)?, self.add_weights(&words_of_i32(bias))?, self.add_weights(mult)?])
    }

    /// The GEMM step, its constants folded (`gemm_constants`).
    fn qgemm_step(&mut self, g: QGemmArgs) -> Result<()> {
        let (reads, row_sums) = self.gemm_constants(&g)?;
        let p = k::int8::gemm::QGemm { m: g.m, k: g.k, n: g.n, row_sums, requant: g.requant };
        self.push(Kernel::QGemm(p), [vec![g.a], reads].concat(), g.out);
        Ok(())
    }

    /// Packed `b`, the int32 constants and the multipliers of an 8-bit GEMM, in the blob:
    /// `bias'[j] = bias[j] - a_zero * sum_k b[k][j] + k * a_zero * w_zero[j]`. Also whether
    /// the weights have zero points (the kernel then subtracts `w_zero[j] * rowsum(a)`).
    fn gemm_constants(&mut self, g: &QGemmArgs) -> Result<(Vec<Region>, bool)> {
        let pn = k::int8::gemm::padded(g.n);
        let mut consts = vec![0i32; 2 * pn];
        for j in 0..g.n {
            let col: i64 = (0..g.k).map(|kk| g.b[kk * g.n + j] as i64).sum();
            let folded = g.bias[j] as i64 - g.a_zero as i64 * col + (g.k as i64) * g.a_zero as i64 * g.zero[j] as i64;
            // Wrapping: the kernel's arithmetic is modulo 2^32 and ends at the exact sum.
            consts[j] = folded as i32;
            consts[pn + j] = g.zero[j];
        }
        let mut mult = g.mult.to_vec();
        mult.resize(pn, 0.0);
        let mut packed = vec![0i8; k::int8::gemm::packed_b_len(g.k, g.n)];
        k::int8::gemm::pack_b(g.b, g.k, g.n, &mut packed);
        let packed: Vec<u8> = packed.iter().map(|&v| v as u8).collect();
        let reads = vec![
            self.add_weights(&words_of_bytes(&packed))?,
            self.add_weights(&words_of_i32(&consts))?,
            self.add_weights(&mult)?,
        ];
        Ok((reads, g.zero.iter().any(|&z| z != 0)))
    }

    pub(super) fn qgemm(&mut self, n: NodeId, q: &QGemm, shape: Vec<usize>) -> Result<Value> {
        let a = self.operand(n, 0)?;
        let a = self.gemm_a(a, q.trans_a)?;
        let [m, kk] = a.shape[..] else { return Err(err!(internal, "QGemm A is not 2-D")) };
        let ncols = shape[1];
        let (_, b) = int_constant(self.g.operand(n, 1).and_then(|o| self.g.constant(o)), "QGemm B")?;
        let b_shift = if q.b.dtype == DType::U8 { -128 } else { 0 };
        let b8: Vec<i8> = (0..kk * ncols)
            .map(|i| {
                let (r, c) = (i / ncols, i % ncols);
                (b[if q.trans_b { c * kk + r } else { i }] as i32 + b_shift) as i8
            })
            .collect();
        let zero: Vec<i32> = (0..ncols).map(|j| q.b.zero_point_at(j) + b_shift).collect();
        let bias: Vec<i32> = if q.has_c {
            let (ct, cv) = int_constant(self.g.operand(n, 2).and_then(|o| self.g.constant(o)), "QGemm C")?;
            let is_row = ct.shape.iter().rev().skip(1).all(|&d| d == 1) && (cv.len() == 1 || cv.len() == ncols);
            if !is_row {
                return Err(err!(
                    unsupported,
                    "a QGemm C of shape {:?} is not supported (only a row or a scalar)",
                    ct.shape
                ));
            }
            (0..ncols).map(|j| to_i32(cv[if cv.len() == 1 { 0 } else { j }])).collect::<Result<_>>()?
        } else {
            vec![0; ncols]
        };
        let mult: Vec<f32> = (0..ncols).map(|j| multiplier(&q.a, &q.b, j, &q.y)).collect();
        let (_, a_zero) = activation(&q.a, "A")?;
        let out = self.new_bytes(m * ncols);
        self.qgemm_step(QGemmArgs {
            a: a.region,
            m,
            k: kk,
            n: ncols,
            b: &b8,
            zero: &zero,
            bias: &bias,
            mult: &mult,
            a_zero,
            requant: requant(&q.y, q.clamp)?,
            out,
        })?;
        Ok(Value { region: out, strides: row_major(&shape), shape, bytes: true })
    }

    pub(super) fn qbinary(&mut self, n: NodeId, q: &QBinary, shape: Vec<usize>) -> Result<Value> {
        let a = self.operand(n, 0)?;
        let b = self.operand(n, 1)?;
        let (a_scale, a_zero) = activation(&q.a, "A")?;
        let (b_scale, b_zero) = activation(&q.b, "B")?;
        let (y_scale, _) = activation(&q.y, "the output")?;
        let rq = requant(&q.y, q.clamp)?;
        let op = match q.kind {
            QBinaryKind::Add => k::int8::elementwise::QBinOp::Add(k::quant::Add {
                a_ratio: q.a.scale[0] / q.y.scale[0],
                a_zero_point: a_zero,
                b_ratio: q.b.scale[0] / q.y.scale[0],
                b_zero_point: b_zero,
                y_zero_point: rq.zero_point,
                lo: rq.lo,
                hi: rq.hi,
            }),
            QBinaryKind::Mul => {
                k::int8::elementwise::QBinOp::Mul { a_zero, b_zero, mult: a_scale * b_scale / y_scale, requant: rq }
            }
        };
        let w = super::elementwise::BinaryWalk::of(&a, &b, &shape)?;
        let p = k::int8::elementwise::QBinary { op, shape: w.shape, a_strides: w.a_strides, b_strides: w.b_strides };
        let out = self.new_bytes(shape.iter().product());
        self.push(Kernel::QBinary(p), vec![a.region, b.region], out);
        Ok(Value { region: out, shape, strides: w.out_strides, bytes: true })
    }

    pub(super) fn qpool(&mut self, n: NodeId, q: &QPool, shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        let x = self.nhwc_of(x)?;
        let [images, channels, in_h, in_w] = x.shape[..] else {
            return Err(err!(internal, "pooling input is not 4-D"));
        };
        let (x_scale, x_zero) = activation(&q.x, "the input")?;
        let (y_scale, _) = activation(&q.y, "the output")?;
        let rq = requant(&q.y, q.y.range())?;
        // A window that is the whole unpadded image (a 7x7 AveragePool on 7x7) is the global
        // average (the same sum and multiplier), whose kernel is vectorised.
        let whole = |p: &crate::ir::Pool| {
            let w = window_of(&p.window);
            (w.kernel_h, w.kernel_w) == (in_h, in_w) && p.window.pads.iter().all(|&v| v == 0)
        };
        let pool = q.pool.as_ref().filter(|p| !whole(p));
        let p = k::int8::pool::QPool {
            images,
            channels,
            in_h,
            in_w,
            out_h: shape[2],
            out_w: shape[3],
            win: pool.map(|p| window_of(&p.window)),
            pad_bottom: pool.map_or(0, |p| p.window.pads[2]),
            pad_right: pool.map_or(0, |p| p.window.pads[3]),
            count_include_pad: pool.is_some_and(|p| p.count_include_pad),
            x_scale,
            x_zero,
            y_scale,
            requant: rq,
        };
        let out = self.new_bytes(shape.iter().product());
        self.push(Kernel::QPool(p), vec![x.region], out);
        Ok(Value { region: out, strides: nhwc(&shape), shape, bytes: true })
    }
}

/// How a quantised convolution runs.
enum ConvPlan {
    /// A 1x1 convolution as a GEMM over the pixels.
    Pointwise(k::int8::gemm::QGemm),
    /// One filter per channel.
    Depthwise(k::int8::depthwise::QDepthwise),
    /// Ungrouped, as gathered windows times a GEMM.
    Gemm(k::int8::conv::QConvGemm),
    /// Grouped: the direct kernel.
    Grouped(k::int8::conv::QConv2d),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum QConvKind {
    Pointwise,
    Depthwise,
    Gemm,
    Grouped,
}

/// Which kernel a quantised convolution of these shapes takes.
fn conv_kind(c: &QConv, in_shape: &[usize], out_shape: &[usize], w_shape: &[usize]) -> QConvKind {
    let (in_c, out_c) = (in_shape.get(1).copied().unwrap_or(0), out_shape.get(1).copied().unwrap_or(0));
    let (cig, kh, kw) = (
        w_shape.get(1).copied().unwrap_or(0),
        w_shape.get(2).copied().unwrap_or(0),
        w_shape.get(3).copied().unwrap_or(0),
    );
    let win = &c.window;
    if kh == 1
        && kw == 1
        && win.strides == [1, 1]
        && win.pads == [0, 0, 0, 0]
        && c.group == 1
        && in_shape[2..] == out_shape[2..]
    {
        QConvKind::Pointwise
    } else if c.group == in_c && c.group == out_c && cig == 1 {
        QConvKind::Depthwise
    } else if c.group == 1 && kh * kw * in_c <= k::int8::conv::GATHER {
        QConvKind::Gemm
    } else {
        QConvKind::Grouped
    }
}

/// The quantised convolutions the block kernel runs as one step: a depthwise conv (at most
/// `MAX_TAPS` taps) whose only use is a pointwise conv, with in front of it the pointwise
/// expand or the ungrouped conv (a model's first layer) that alone computes its input.
pub(super) fn fusable_blocks(g: &Graph) -> Result<Vec<Vec<NodeId>>> {
    let kind = |n: NodeId| -> Option<QConvKind> {
        let Op::QConv(c) = g.op(n) else { return None };
        let x = g.operand(n, 0)?;
        let w = g.operand(n, 1)?;
        Some(conv_kind(c, g.shape(x).ok()?, g.shape(n).ok()?, g.shape(w).ok()?))
    };
    let mut blocks: Vec<Vec<NodeId>> = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for p in g.topo_order()? {
        if kind(p) != Some(QConvKind::Pointwise) {
            continue;
        }
        let Some(dw) = g.operand(p, 0) else { continue };
        let taps_ok = match g.op(dw) {
            Op::QConv(c) => c.window.kernel[0] * c.window.kernel[1] <= k::int8::depthwise::MAX_TAPS,
            _ => false,
        };
        if kind(dw) != Some(QConvKind::Depthwise) || !taps_ok || !g.has_single_use(dw) {
            continue;
        }
        // (not the last conv of an earlier block: MobileNetV1's pointwise convs end one pair
        // and would start the next)
        let first = g.operand(dw, 0).filter(|&f| {
            matches!(kind(f), Some(QConvKind::Pointwise | QConvKind::Gemm))
                && g.has_single_use(f)
                && !taken.contains(&f)
        });
        taken.insert(p);
        blocks.push(first.into_iter().chain([dw, p]).collect());
    }
    Ok(blocks)
}

/// What `qgemm_step` multiplies.
struct QGemmArgs<'a> {
    a: Region,
    m: usize,
    k: usize,
    n: usize,
    /// `[k][n]`, int8.
    b: &'a [i8],
    /// Per column: the weights' zero point (as int8).
    zero: &'a [i32],
    bias: &'a [i32],
    mult: &'a [f32],
    a_zero: i32,
    requant: Requant,
    out: Region,
}
