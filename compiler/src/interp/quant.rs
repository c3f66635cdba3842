//! Reference quantised operations: exact integer accumulation (in i64, checked to fit the int32
//! the kernels use), then `mobilenet_kernels::quant`'s rounding, the same function every
//! kernel path calls.

use mobilenet_kernels::quant as q;

use super::strides;
use crate::error::{Result, err};
use crate::ir::quant::{QBinary, QBinaryKind, QConv, QGemm, QLookup, QPool, Quant};
use crate::ir::{Tensor, TensorType};

fn ints<'a>(t: &'a Tensor, what: &str) -> Result<&'a [i64]> {
    t.as_i64().ok_or_else(|| err!(internal, "{what} is not an integer tensor"))
}

/// The index along `axis` of every element of a tensor of `shape` (0 when per tensor).
fn axis_index(shape: &[usize], axis: Option<usize>) -> impl Fn(usize) -> usize {
    let (stride, dim) = match axis {
        Some(a) => (strides(shape)[a], shape[a]),
        None => (1, 1),
    };
    move |i| (i / stride) % dim
}

/// An accumulator as the int32 the kernels hold (the type rules bound it; this is the check).
fn acc32(acc: i64) -> Result<i32> {
    i32::try_from(acc).map_err(|_| err!(unsupported, "an integer accumulator ({acc}) overflows int32"))
}

pub fn quantize(p: &Quant, x: &Tensor, out: &TensorType) -> Result<Tensor> {
    let v = x.as_f32().ok_or_else(|| err!(internal, "QuantizeLinear input is not float"))?;
    let at = axis_index(&x.shape, p.axis_in(&x.shape, "QuantizeLinear")?);
    let (lo, hi) = p.range();
    let y = v.iter().enumerate().map(|(i, &x)| {
        let c = at(i);
        q::quantize(x, p.scale_at(c), p.zero_point_at(c), lo, hi) as i64
    });
    Ok(Tensor::int(p.dtype, out.shape.clone(), y.collect()))
}

pub fn dequantize(p: &Quant, x: &Tensor, out: &TensorType) -> Result<Tensor> {
    let v = ints(x, "DequantizeLinear input")?;
    let at = axis_index(&x.shape, p.axis_in(&x.shape, "DequantizeLinear")?);
    let y = v.iter().enumerate().map(|(i, &v)| {
        let c = at(i);
        let v = i32::try_from(v).map_err(|_| err!(internal, "{v} is not an int32"))?;
        Ok(q::dequantize(v, p.scale_at(c), p.zero_point_at(c)))
    });
    Ok(Tensor::f32(out.shape.clone(), y.collect::<Result<_>>()?))
}

/// `x_scale * w_scale[m] / y_scale`, in that order (ONNX Runtime's order).
pub fn multiplier(x: &Quant, w: &Quant, m: usize, y: &Quant) -> f32 {
    x.scale[0] * w.scale_at(m) / y.scale[0]
}

pub fn conv(c: &QConv, args: &[&Tensor], out: &TensorType) -> Result<Tensor> {
    let (x, w) = (ints(args[0], "QLinearConv input")?, ints(args[1], "QLinearConv weight")?);
    let bias = if c.has_bias { Some(ints(args[2], "QLinearConv bias")?) } else { None };
    let [n, ch, h, wd] = args[0].shape[..] else { return Err(err!(internal, "QLinearConv input is not 4-D")) };
    let [_, m, oh, ow] = out.shape[..] else { return Err(err!(internal, "QLinearConv output is not 4-D")) };
    let win = &c.window;
    let [kh, kw] = win.kernel;
    let (cpg, mpg) = (ch / c.group, m / c.group);
    let xz = c.x.zero_point[0] as i64;
    let mut y = vec![0i64; n * m * oh * ow];
    for b in 0..n {
        for oc in 0..m {
            let g = oc / mpg;
            let wz = c.w.zero_point_at(oc) as i64;
            let mult = multiplier(&c.x, &c.w, oc, &c.y);
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bias.map_or(0, |b| b[oc]);
                    for ic in 0..cpg {
                        let plane = &x[(b * ch + g * cpg + ic) * h * wd..][..h * wd];
                        for ky in 0..kh {
                            let iy = (oy * win.strides[0] + ky * win.dilations[0]) as isize - win.pads[0] as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (ox * win.strides[1] + kx * win.dilations[1]) as isize - win.pads[1] as isize;
                                if ix < 0 || ix >= wd as isize {
                                    continue;
                                }
                                let xv = plane[iy as usize * wd + ix as usize] - xz;
                                let wv = w[((oc * cpg + ic) * kh + ky) * kw + kx] - wz;
                                acc += xv * wv;
                            }
                        }
                    }
                    let v = q::requantize(acc32(acc)?, mult, c.y.zero_point[0], c.clamp.0, c.clamp.1);
                    y[((b * m + oc) * oh + oy) * ow + ox] = v as i64;
                }
            }
        }
    }
    Ok(Tensor::int(c.y.dtype, out.shape.clone(), y))
}

pub fn gemm(g: &QGemm, args: &[&Tensor], out: &TensorType) -> Result<Tensor> {
    let (a, b) = (ints(args[0], "QGemm A")?, ints(args[1], "QGemm B")?);
    let c = if g.has_c { Some((ints(args[2], "QGemm C")?, &args[2].shape)) } else { None };
    let [m, n] = out.shape[..] else { return Err(err!(internal, "QGemm output is not 2-D")) };
    let k = if g.trans_a { args[0].shape[0] } else { args[0].shape[1] };
    let az = g.a.zero_point[0] as i64;
    let a_at = |i: usize, kk: usize| if g.trans_a { a[kk * m + i] } else { a[i * k + kk] };
    let b_at = |kk: usize, j: usize| if g.trans_b { b[j * k + kk] } else { b[kk * n + j] };
    let mut y = vec![0i64; m * n];
    for i in 0..m {
        for j in 0..n {
            let bz = g.b.zero_point_at(j) as i64;
            let mut acc = match c {
                Some((c, shape)) => c[broadcast_index(shape, &[m, n], i * n + j)],
                None => 0,
            };
            for kk in 0..k {
                acc += (a_at(i, kk) - az) * (b_at(kk, j) - bz);
            }
            let mult = multiplier(&g.a, &g.b, j, &g.y);
            y[i * n + j] = q::requantize(acc32(acc)?, mult, g.y.zero_point[0], g.clamp.0, g.clamp.1) as i64;
        }
    }
    Ok(Tensor::int(g.y.dtype, out.shape.clone(), y))
}

/// The flat index in a tensor of `shape` that broadcasts to `out` of the output's flat index.
fn broadcast_index(shape: &[usize], out: &[usize], flat: usize) -> usize {
    let os = strides(out);
    let s = strides(shape);
    let offset = out.len() - shape.len();
    let mut idx = 0;
    for (a, &d) in shape.iter().enumerate() {
        let i = (flat / os[a + offset]) % out[a + offset];
        if d != 1 {
            idx += i * s[a];
        }
    }
    idx
}

pub fn binary(p: &QBinary, args: &[&Tensor], out: &TensorType) -> Result<Tensor> {
    let (a, b) = (ints(args[0], "quantised A")?, ints(args[1], "quantised B")?);
    let (az, bz, yz) = (p.a.zero_point[0], p.b.zero_point[0], p.y.zero_point[0]);
    let add = q::Add {
        a_ratio: p.a.scale[0] / p.y.scale[0],
        a_zero_point: az,
        b_ratio: p.b.scale[0] / p.y.scale[0],
        b_zero_point: bz,
        y_zero_point: yz,
        lo: p.clamp.0,
        hi: p.clamp.1,
    };
    let mult = p.a.scale[0] * p.b.scale[0] / p.y.scale[0];
    let y = (0..out.elements()).map(|i| {
        let av = a[broadcast_index(&args[0].shape, &out.shape, i)] as i32;
        let bv = b[broadcast_index(&args[1].shape, &out.shape, i)] as i32;
        (match p.kind {
            QBinaryKind::Add => q::add(av, bv, &add),
            QBinaryKind::Mul => q::requantize((av - az) * (bv - bz), mult, yz, p.clamp.0, p.clamp.1),
        }) as i64
    });
    Ok(Tensor::int(p.y.dtype, out.shape.clone(), y.collect()))
}

pub fn pool(p: &QPool, x: &Tensor, out: &TensorType) -> Result<Tensor> {
    let v = ints(x, "quantised pooling input")?;
    let [n, c, h, w] = x.shape[..] else { return Err(err!(internal, "pooling input is not 4-D")) };
    let [_, _, oh, ow] = out.shape[..] else { return Err(err!(internal, "pooling output is not 4-D")) };
    let (xz, yz) = (p.x.zero_point[0] as i64, p.y.zero_point[0]);
    let (lo, hi) = p.y.range();
    let mut y = vec![0i64; n * c * oh * ow];
    for plane in 0..n * c {
        let input = &v[plane * h * w..][..h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                // The window (clipped to the input) and its count, as the float AveragePool.
                let (ys, ye, xs, xe, count) = match &p.pool {
                    None => (0, h, 0, w, h * w),
                    Some(pool) => {
                        let win = &pool.window;
                        let y0 = (oy * win.strides[0]) as isize - win.pads[0] as isize;
                        let x0 = (ox * win.strides[1]) as isize - win.pads[1] as isize;
                        let y1 = (y0 + win.kernel[0] as isize).min(h as isize + win.pads[2] as isize);
                        let x1 = (x0 + win.kernel[1] as isize).min(w as isize + win.pads[3] as isize);
                        let (ys, xs) = (y0.max(0) as usize, x0.max(0) as usize);
                        let (ye, xe) = (y1.min(h as isize) as usize, x1.min(w as isize) as usize);
                        let count = if pool.count_include_pad {
                            ((y1 - y0) * (x1 - x0)) as usize
                        } else {
                            (ye.saturating_sub(ys)) * (xe.saturating_sub(xs))
                        };
                        (ys, ye, xs, xe, count)
                    }
                };
                let mut acc = 0i64;
                for iy in ys..ye {
                    for ix in xs..xe {
                        acc += input[iy * w + ix] - xz;
                    }
                }
                let r = if count == 0 {
                    yz.clamp(lo, hi)
                } else {
                    q::requantize(acc32(acc)?, pool_multiplier(p.x.scale[0], p.y.scale[0], count), yz, lo, hi)
                };
                y[(plane * oh + oy) * ow + ox] = r as i64;
            }
        }
    }
    Ok(Tensor::int(p.y.dtype, out.shape.clone(), y))
}

/// `x_scale / (y_scale * count)`: the multiplier of an average over `count` values (ONNX
/// Runtime's order).
pub fn pool_multiplier(x_scale: f32, y_scale: f32, count: usize) -> f32 {
    x_scale / (y_scale * count as f32)
}

pub fn lookup(l: &QLookup, x: &Tensor, out: &TensorType) -> Result<Tensor> {
    let v = ints(x, "lookup input")?;
    Ok(Tensor::int(l.to, out.shape.clone(), v.iter().map(|&q| l.get(q as i32) as i64).collect()))
}
