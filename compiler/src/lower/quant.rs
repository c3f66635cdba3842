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

use super::{Kernel, Lowering, Region, Value, nhwc, pad6, row_major, window_of};
use crate::error::{Result, err};
use crate::interp::quant::multiplier;
use crate::ir::quant::{QBinary, QBinaryKind, QConv, QGemm, QLookup, QPool, Quant};
use crate::ir::{DType, NodeId, Tensor};

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
        self.push(
            Kernel::Quantize(k::int8::convert::Quantize { len, scale, zero_point, lo: 0, hi: 255 }),
            vec![x.region],
            out,
        );
        Ok(Value { region: out, strides: x.strides, shape, bytes: true })
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
        let [images, in_c, in_h, in_w] = x.shape[..] else {
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
        let win = &c.window;
        let pointwise = kh == 1
            && kw == 1
            && win.strides == [1, 1]
            && win.pads == [0, 0, 0, 0]
            && c.group == 1
            && out_h == in_h
            && out_w == in_w;
        let out = self.new_bytes(shape.iter().product());
        if pointwise {
            // A GEMM over the pixels: a = [pixels][in_c], b = w transposed, [in_c][out_c].
            let b: Vec<i8> = (0..in_c * out_c).map(|i| w8((i % out_c) * in_c + i / out_c) as i8).collect();
            self.qgemm_step(QGemmArgs {
                a: x.region,
                m: images * in_h * in_w,
                k: in_c,
                n: out_c,
                b: &b,
                zero: &(0..out_c).map(zw).collect::<Vec<_>>(),
                bias: &bias,
                mult: &mult,
                a_zero: x_zero,
                requant,
                out,
            })?;
        } else if c.group == in_c && c.group == out_c && cig == 1 {
            // Depthwise: weights `w - w_zero` as int16, [kh][kw][c].
            let mut packed = vec![0i16; kh * kw * out_c];
            for ch in 0..out_c {
                for t in 0..kh * kw {
                    packed[t * out_c + ch] = (w8(ch * kh * kw + t) - zw(ch)) as i16;
                }
            }
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
            let dw = &k::int8::depthwise::pack;
            let (taps, pc) = (kh * kw, k::int8::depthwise::padded(out_c));
            let (mut pw, mut pb, mut pm) =
                (vec![0i16; k::int8::depthwise::packed_len(out_c, taps)], vec![0i32; pc], vec![0f32; pc]);
            dw(&packed, &bias, &mult, out_c, taps, (&mut pw, &mut pb, &mut pm));
            let reads = self.weight_reads(&words_of_i16(&pw), &pb, &pm)?;
            self.push(Kernel::QDepthwise(p), [vec![x.region], reads].concat(), out);
        } else if c.group == 1 {
            // A GEMM over gathered windows: b = [kh][kw][in_c] x [out_c].
            let kk = kh * kw * in_c;
            let b: Vec<i8> = (0..kk * out_c)
                .map(|i| {
                    let (row, m) = (i / out_c, i % out_c);
                    let (t, ci) = (row / in_c, row % in_c);
                    w8((m * in_c + ci) * kh * kw + t) as i8
                })
                .collect();
            let args = QGemmArgs {
                a: x.region,
                m: 0,
                k: kk,
                n: out_c,
                b: &b,
                zero: &(0..out_c).map(zw).collect::<Vec<_>>(),
                bias: &bias,
                mult: &mult,
                a_zero: x_zero,
                requant,
                out,
            };
            let (reads, row_sums) = self.gemm_constants(&args)?;
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
            self.push(Kernel::QConvGemm(p), [vec![x.region], reads].concat(), out);
        } else {
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
            self.push(Kernel::QConv2d(p), [vec![x.region], reads].concat(), out);
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
        let a = if q.trans_a {
            let t = Value {
                region: a.region,
                shape: vec![a.shape[1], a.shape[0]],
                strides: vec![a.strides[1], a.strides[0]],
                bytes: a.bytes,
            };
            self.row_major_of(t)?
        } else {
            self.row_major_of(a)?
        };
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
        let r = shape.len();
        let full = [&a, &b].into_iter().find(|v| v.shape == shape && (v.is_row_major() || v.is_nhwc()));
        let (strides, order): (Vec<usize>, Vec<usize>) = match full {
            Some(v) if r == 4 && v.is_nhwc() && !v.is_row_major() => (nhwc(&shape), vec![0, 2, 3, 1]),
            _ => (row_major(&shape), (0..r).collect()),
        };
        let aligned = |v: &Value| -> Vec<usize> {
            let pad = r - v.shape.len();
            (0..r).map(|i| if i < pad || v.shape[i - pad] == 1 { 0 } else { v.strides[i - pad] }).collect()
        };
        let (sa, sb) = (aligned(&a), aligned(&b));
        let walk: Vec<usize> = order.iter().map(|&i| shape[i]).collect();
        let p = k::int8::elementwise::QBinary {
            op,
            shape: pad6(&walk, 1)?,
            a_strides: pad6(&order.iter().map(|&i| sa[i]).collect::<Vec<_>>(), 0)?,
            b_strides: pad6(&order.iter().map(|&i| sb[i]).collect::<Vec<_>>(), 0)?,
        };
        let out = self.new_bytes(shape.iter().product());
        self.push(Kernel::QBinary(p), vec![a.region, b.region], out);
        Ok(Value { region: out, shape, strides, bytes: true })
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
        let p = k::int8::pool::QPool {
            images,
            channels,
            in_h,
            in_w,
            out_h: shape[2],
            out_w: shape[3],
            win: q.pool.as_ref().map(|p| window_of(&p.window)),
            pad_bottom: q.pool.as_ref().map_or(0, |p| p.window.pads[2]),
            pad_right: q.pool.as_ref().map_or(0, |p| p.window.pads[3]),
            count_include_pad: q.pool.as_ref().is_some_and(|p| p.count_include_pad),
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
