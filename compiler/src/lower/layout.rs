//! Data movement: views (Reshape and friends), Transpose, Pad, Slice, Concat, Gather.

use mobilenet_kernels as k;

use super::{Kernel, Lowering, Value, nhwc, pad6, row_major};
use crate::error::{Result, err};
use crate::ir::NodeId;
use crate::ir::infer::{gather_index, normalize_axis, slice_range};

impl Lowering<'_> {
    /// Reshape, Flatten, Squeeze, Unsqueeze, View: the same row-major elements, another shape.
    pub(super) fn view(&mut self, n: NodeId, shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        let x = self.row_major_of(x)?;
        Ok(Value { region: x.region, strides: row_major(&shape), shape, bytes: x.bytes })
    }

    /// A view when the permuted strides are a layout some kernel reads (NHWC input of a Keras
    /// model, for one); a copy to row-major otherwise.
    pub(super) fn transpose(&mut self, n: NodeId, perm: &[usize], shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        let strides: Vec<usize> = perm.iter().map(|&p| x.strides[p]).collect();
        let v = Value { region: x.region, shape: shape.clone(), strides, bytes: x.bytes };
        if v.is_row_major() || v.is_nhwc() { Ok(v) } else { self.copy_to(&v, row_major(&shape)) }
    }

    pub(super) fn softmax(&mut self, n: NodeId, axis: i64, coerce_2d: bool, shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        let x = self.row_major_of(x)?;
        let a = normalize_axis(axis, shape.len())?;
        let (outer, len, inner) = if coerce_2d {
            (shape[..a].iter().product(), shape[a..].iter().product(), 1)
        } else {
            (shape[..a].iter().product(), shape[a], shape[a + 1..].iter().product())
        };
        let out = self.new_buffer(x.region.len);
        self.push(Kernel::Softmax(k::softmax::Softmax { outer, len, inner }), vec![x.region], out);
        Ok(Value { region: out, strides: row_major(&shape), shape, bytes: false })
    }

    /// Fill with the pad value, then copy the input inside (negative pads crop).
    pub(super) fn pad(&mut self, n: NodeId, pads: &[i64], value: f32, shape: Vec<usize>) -> Result<Value> {
        let x = self.operand(n, 0)?;
        let r = shape.len();
        let strides = if r == 4 { nhwc(&shape) } else { row_major(&shape) };
        let out = self.new_buffer(shape.iter().product());
        self.push(Kernel::Fill(value), vec![], out);
        let (mut src_offset, mut dst_offset) = (0, 0);
        let mut copy_shape = x.shape.clone();
        for a in 0..r {
            let (begin, end) = (pads[a], pads[a + r]);
            if begin >= 0 {
                dst_offset += begin as usize * strides[a];
            } else {
                src_offset += (-begin) as usize * x.strides[a];
            }
            copy_shape[a] = (x.shape[a] as i64 + begin.min(0) + end.min(0)).max(0) as usize;
        }
        let p = k::layout::StridedCopy {
            shape: pad6(&copy_shape, 1)?,
            src_strides: pad6(&x.strides, 0)?,
            src_offset,
            dst_strides: pad6(&strides, 0)?,
            dst_offset,
        };
        self.push(Kernel::Copy(p), vec![x.region], out);
        Ok(Value { region: out, shape, strides, bytes: false })
    }

    pub(super) fn slice(
        &mut self,
        n: NodeId,
        starts: &[i64],
        ends: &[i64],
        axes: &[i64],
        steps: &[i64],
        shape: Vec<usize>,
    ) -> Result<Value> {
        let x = self.operand(n, 0)?;
        let mut src_offset = 0usize;
        let mut src_strides = x.strides.clone();
        for i in 0..axes.len() {
            let a = normalize_axis(axes[i], x.shape.len())?;
            if steps[i] < 0 {
                return Err(err!(unsupported, "Slice with negative steps is not supported at run time"));
            }
            let (first, len) = slice_range(x.shape[a], starts[i], ends[i], steps[i])?;
            src_offset += first as usize * x.strides[a];
            // With one element or none the step is never taken (and may be as large as i64::MAX).
            src_strides[a] = if len > 1 { src_strides[a] * steps[i] as usize } else { 0 };
        }
        let strides = row_major(&shape);
        let out = self.new_buffer(shape.iter().product());
        let p = k::layout::StridedCopy {
            shape: pad6(&shape, 1)?,
            src_strides: pad6(&src_strides, 0)?,
            src_offset,
            dst_strides: pad6(&strides, 0)?,
            dst_offset: 0,
        };
        self.push(Kernel::Copy(p), vec![x.region], out);
        Ok(Value { region: out, shape, strides, bytes: false })
    }

    /// One copy per operand into its place along `axis` (NHWC output for images).
    pub(super) fn concat(&mut self, n: NodeId, axis: i64, shape: Vec<usize>) -> Result<Value> {
        let a = normalize_axis(axis, shape.len())?;
        let strides = if shape.len() == 4 { nhwc(&shape) } else { row_major(&shape) };
        let out = self.new_buffer(shape.iter().product());
        let mut start = 0;
        for src in self.g.operands(n) {
            let x = self.value(src)?;
            let p = k::layout::StridedCopy {
                shape: pad6(&x.shape, 1)?,
                src_strides: pad6(&x.strides, 0)?,
                src_offset: 0,
                dst_strides: pad6(&strides, 0)?,
                dst_offset: start * strides[a],
            };
            start += x.shape[a];
            self.push(Kernel::Copy(p), vec![x.region], out);
        }
        Ok(Value { region: out, shape, strides, bytes: false })
    }

    /// Gather with constant indices: one copy per index of the slab it selects.
    pub(super) fn gather(&mut self, n: NodeId, axis: i64, shape: Vec<usize>) -> Result<Value> {
        let indices = self
            .g
            .operand(n, 1)
            .and_then(|i| self.g.constant(i))
            .and_then(|t| t.as_i64())
            .ok_or_else(|| err!(unsupported, "Gather indices must be constants"))?
            .to_vec();
        let x = self.operand(n, 0)?;
        let x = self.row_major_of(x)?;
        let a = normalize_axis(axis, x.shape.len())?;
        // Row-major x is [outer, d, inner]; the output is [outer, indices, inner].
        let (outer, d): (usize, usize) = (x.shape[..a].iter().product(), x.shape[a]);
        let inner: usize = x.shape[a + 1..].iter().product();
        let out = self.new_buffer(shape.iter().product());
        for (j, &i) in indices.iter().enumerate() {
            let i = gather_index(i, d)?;
            let p = k::layout::StridedCopy {
                shape: pad6(&[outer, inner], 1)?,
                src_strides: pad6(&[d * inner, 1], 0)?,
                src_offset: i * inner,
                dst_strides: pad6(&[indices.len() * inner, 1], 0)?,
                dst_offset: j * inner,
            };
            self.push(Kernel::Copy(p), vec![x.region], out);
        }
        Ok(Value { region: out, strides: row_major(&shape), shape, bytes: false })
    }
}
