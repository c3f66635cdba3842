//! Reference 2-D convolution (grouped, strided, dilated, padded) with the fused epilogue
//! `act(conv + bias + residual)`.

use crate::error::{Result, err};
use crate::ir::{Conv, Tensor, TensorType};

pub fn conv(c: &Conv, args: &[&Tensor], out: &TensorType) -> Result<Tensor> {
    let get = |i: usize| args[i].as_f32().ok_or_else(|| err!(internal, "Conv operand {i} is not float"));
    let (x, w) = (get(0)?, get(1)?);
    let bias = c.bias_slot().map(get).transpose()?;
    let residual = c.residual_slot().map(get).transpose()?;
    let [n, ch, h, wd] = args[0].shape[..] else { return Err(err!(internal, "Conv input is not 4-D")) };
    let [_, m, oh, ow] = out.shape[..] else { return Err(err!(internal, "Conv output is not 4-D")) };
    let win = &c.window;
    let [kh, kw] = win.kernel;
    let (cpg, mpg) = (ch / c.group, m / c.group);
    let (pt, pl) = (win.pads[0] as isize, win.pads[1] as isize);
    let (sh, sw) = (win.strides[0], win.strides[1]);
    let (dh, dw) = (win.dilations[0] as isize, win.dilations[1] as isize);
    let mut y = vec![0f32; n * m * oh * ow];
    for b in 0..n {
        for oc in 0..m {
            let g = oc / mpg;
            let plane = &mut y[(b * m + oc) * oh * ow..][..oh * ow];
            for ic in 0..cpg {
                let input = &x[(b * ch + g * cpg + ic) * h * wd..][..h * wd];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let wv = w[((oc * cpg + ic) * kh + ky) * kw + kx];
                        let dx = kx as isize * dw - pl;
                        // Output columns whose input column ox*sw + dx lies inside [0, wd).
                        let lo = if dx < 0 { ((-dx) as usize).div_ceil(sw) } else { 0 };
                        let hi =
                            if (wd as isize) > dx { ((wd as isize - dx) as usize).div_ceil(sw).min(ow) } else { 0 };
                        for oy in 0..oh {
                            let iy = (oy * sh) as isize + ky as isize * dh - pt;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            let row = &input[iy as usize * wd..][..wd];
                            let out_row = &mut plane[oy * ow..][..ow];
                            for ox in lo..hi {
                                out_row[ox] += wv * row[((ox * sw) as isize + dx) as usize];
                            }
                        }
                    }
                }
            }
            for (i, v) in plane.iter_mut().enumerate() {
                let mut acc = *v;
                if let Some(bias) = bias {
                    acc += bias[oc];
                }
                if let Some(r) = residual {
                    acc += r[(b * m + oc) * oh * ow + i];
                }
                *v = match c.act {
                    Some(a) => a.apply(acc),
                    None => acc,
                };
            }
        }
    }
    Ok(Tensor::f32(out.shape.clone(), y))
}
