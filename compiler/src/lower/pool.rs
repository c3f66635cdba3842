//! GlobalAveragePool, MaxPool/AveragePool, ReduceMean.

use mobilenet_kernels as k;

use super::{Kernel, Lowering, Value, nhwc, pad6, row_major, window_of};
use crate::error::{Result, err};
use crate::ir::infer::reduced_axes;
use crate::ir::{NodeId, Pool, PoolKind};

impl Lowering<'_> {
    /// Mean over the spatial axes of an NHWC image; the `[N, C, 1, 1]` (or `[N, C]`) result is
    /// row-major and NHWC at once.
    pub(super) fn global_average(&mut self, x: Value, shape: Vec<usize>) -> Result<Value> {
        let x = self.nhwc_of(x)?;
        let [batch, channels, h, w] = x.shape[..] else {
            return Err(err!(unsupported, "global pooling needs a 4-D input"));
        };
        let out = self.new_buffer(batch * channels);
        self.push(Kernel::GlobalAverage(k::pool::GlobalPool { batch, pixels: h * w, channels }), vec![x.region], out);
        Ok(Value { region: out, strides: row_major(&shape), shape, bytes: false })
    }

    pub(super) fn pool(&mut self, n: NodeId, p: &Pool, shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        let x = self.nhwc_of(x)?;
        let [batch, channels, in_h, in_w] = x.shape[..] else { return Err(err!(internal, "pooling input is not 4-D")) };
        let win = &p.window;
        let params = k::pool::Pool2d {
            batch,
            in_h,
            in_w,
            channels,
            out_h: shape[2],
            out_w: shape[3],
            win: window_of(win),
            pad_bottom: win.pads[2],
            pad_right: win.pads[3],
            kind: match p.kind {
                PoolKind::Max => k::pool::PoolKind::Max,
                PoolKind::Average => k::pool::PoolKind::Average { count_include_pad: p.count_include_pad },
            },
        };
        let out = self.new_buffer(shape.iter().product());
        self.push(Kernel::Pool2d(params), vec![x.region], out);
        Ok(Value { region: out, strides: nhwc(&shape), shape, bytes: false })
    }

    /// Spatial means of an image are a global average; anything else is a transpose that puts
    /// the reduced axes last, then a mean of rows.
    pub(super) fn reduce_mean(&mut self, n: NodeId, axes: &[i64], shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        let reduced = reduced_axes(axes, x.shape.len())?;
        if x.shape.len() == 4 && {
            let mut r = reduced.clone();
            r.sort_unstable();
            r == [2, 3]
        } {
            return self.global_average(x, shape);
        }
        let kept: Vec<usize> = (0..x.shape.len()).filter(|a| !reduced.contains(a)).collect();
        let order: Vec<usize> = kept.iter().chain(&reduced).copied().collect();
        let t_shape: Vec<usize> = order.iter().map(|&a| x.shape[a]).collect();
        let t_strides: Vec<usize> = order.iter().map(|&a| x.strides[a]).collect();
        let t = Value { region: x.region, shape: t_shape.clone(), strides: t_strides, bytes: false };
        let t = self.row_major_of(t)?;
        let rows: usize = kept.iter().map(|&a| x.shape[a]).product();
        let len: usize = reduced.iter().map(|&a| x.shape[a]).product();
        let _ = pad6(&t_shape, 1)?;
        let out = self.new_buffer(rows);
        self.push(Kernel::MeanRows { rows, len }, vec![t.region], out);
        Ok(Value { region: out, strides: row_major(&shape), shape, bytes: false })
    }
}
