//! Reference GlobalAveragePool, MaxPool/AveragePool and ReduceMean.

use super::{for_each_index, strides};
use crate::error::{Result, err};
use crate::ir::infer::reduced_axes;
use crate::ir::{Pool, PoolKind, Tensor, TensorType};

pub fn global_average_pool(x: &Tensor, out: &TensorType) -> Result<Tensor> {
    let v = x.as_f32().ok_or_else(|| err!(internal, "GlobalAveragePool input is not float"))?;
    let planes = x.shape[0] * x.shape[1];
    let size: usize = x.shape[2..].iter().product();
    let y = (0..planes).map(|p| v[p * size..][..size].iter().sum::<f32>() / size as f32).collect();
    Ok(Tensor::f32(out.shape.clone(), y))
}

pub fn pool(p: &Pool, x: &Tensor, out: &TensorType) -> Result<Tensor> {
    let v = x.as_f32().ok_or_else(|| err!(internal, "pooling input is not float"))?;
    let [n, c, h, w] = x.shape[..] else { return Err(err!(internal, "pooling input is not 4-D")) };
    let [_, _, oh, ow] = out.shape[..] else { return Err(err!(internal, "pooling output is not 4-D")) };
    let win = &p.window;
    let (pt, pl, pb, pr) = (win.pads[0] as isize, win.pads[1] as isize, win.pads[2] as isize, win.pads[3] as isize);
    let mut y = vec![0f32; n * c * oh * ow];
    for plane in 0..n * c {
        let input = &v[plane * h * w..][..h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let y0 = (oy * win.strides[0]) as isize - pt;
                let x0 = (ox * win.strides[1]) as isize - pl;
                let r = match p.kind {
                    PoolKind::Max => {
                        // A running `maxps`, started where the kernels (and ONNX Runtime)
                        // start it.
                        let mut m = crate::lower::window_of(win).max_start();
                        for ky in 0..win.kernel[0] {
                            for kx in 0..win.kernel[1] {
                                let iy = y0 + (ky * win.dilations[0]) as isize;
                                let ix = x0 + (kx * win.dilations[1]) as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    m = mobilenet_kernels::act::max_lane(m, input[iy as usize * w + ix as usize]);
                                }
                            }
                        }
                        m
                    }
                    PoolKind::Average => {
                        // The window clipped to the padded input counts when padding is
                        // included; otherwise only the part inside the input does.
                        let y1 = (y0 + win.kernel[0] as isize).min(h as isize + pb);
                        let x1 = (x0 + win.kernel[1] as isize).min(w as isize + pr);
                        let padded_count = (y1 - y0) * (x1 - x0);
                        let (ys, xs) = (y0.max(0), x0.max(0));
                        let (ye, xe) = (y1.min(h as isize), x1.min(w as isize));
                        let mut sum = 0f32;
                        for iy in ys..ye {
                            for ix in xs..xe {
                                sum += input[iy as usize * w + ix as usize];
                            }
                        }
                        let count = if p.count_include_pad { padded_count } else { (ye - ys) * (xe - xs) };
                        if count > 0 { sum / count as f32 } else { 0.0 }
                    }
                };
                y[(plane * oh + oy) * ow + ox] = r;
            }
        }
    }
    Ok(Tensor::f32(out.shape.clone(), y))
}

pub fn reduce_mean(axes: &[i64], x: &Tensor, out: &TensorType) -> Result<Tensor> {
    let v = x.as_f32().ok_or_else(|| err!(internal, "ReduceMean input is not float"))?;
    let reduced = reduced_axes(axes, x.shape.len())?;
    // Output coordinates, with reduced axes kept as size 1 (keepdims only changes the shape).
    let kept: Vec<usize> = x.shape.iter().enumerate().map(|(a, &d)| if reduced.contains(&a) { 1 } else { d }).collect();
    let ks = strides(&kept);
    let mut sums = vec![0f32; kept.iter().product()];
    for_each_index(&x.shape, |flat, idx| {
        let o: usize = idx.iter().enumerate().map(|(a, &i)| if reduced.contains(&a) { 0 } else { i * ks[a] }).sum();
        sums[o] += v[flat];
    });
    let count: usize = reduced.iter().map(|&a| x.shape[a]).product();
    let y = sums.into_iter().map(|s| s / count.max(1) as f32).collect();
    Ok(Tensor::f32(out.shape.clone(), y))
}
