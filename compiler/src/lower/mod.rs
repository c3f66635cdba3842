//! Lowering: the optimised IR becomes a `Program`, a straight list of kernel calls over
//! regions of three memories (the caller's input, the weight blob, the arena), with every shape,
//! stride and weight offset fixed. Code generation prints it; `exec` runs it directly (the
//! oracle that checks lowering and kernels without compiling generated code).
//!
//! Layout is decided here. Every value is a strided view; convolutions and pooling want NHWC
//! (channels innermost), matrices want row-major. A Transpose or Reshape whose result is already
//! laid out as the next kernel wants becomes a view of the same memory; otherwise a strided copy
//! is inserted. Weights are packed for their kernel (`pack.rs`) into one 64-byte-aligned blob.

pub(crate) mod call;
mod conv;
mod dense;
mod elementwise;
mod fused;
pub mod image_loop;
mod layout;
mod pack;
mod pool;
mod quant;

pub use quant::ElemType;

use std::collections::HashMap;

use mobilenet_kernels as k;
use mobilenet_kernels::Act;

use crate::error::{Error, Result, err};
use crate::ir::row_major_strides as row_major;
use crate::ir::{Activation, BinaryOp, Graph, NodeId, Op, Tensor};
use crate::options::Limits;

pub use k::layout::MAX_RANK;

/// Weight blob segments start at multiples of this many f32 (64 bytes).
pub const WEIGHT_ALIGN: usize = 16;

/// Where a region lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loc {
    /// The caller's input slice.
    Input,
    /// The packed weight blob.
    Weights,
    /// An arena buffer (placed by the memory plan).
    Arena(usize),
}

/// A contiguous run of f32: `len` elements from `offset` within `loc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    /// The memory it lives in.
    pub loc: Loc,
    /// First element, in f32 from the start of that memory.
    pub offset: usize,
    /// Number of elements.
    pub len: usize,
}

/// An arena buffer before placement.
#[derive(Clone, Debug)]
pub struct Buffer {
    /// Number of f32 elements.
    pub len: usize,
    /// The IR value it holds (for comments and dumps).
    pub name: String,
}

/// One kernel call. `reads` are in the kernel's argument order.
#[derive(Clone, Debug)]
pub struct Step {
    /// The kernel and its parameters.
    pub kernel: Kernel,
    /// What it reads, in the kernel's argument order.
    pub reads: Vec<Region>,
    /// What it writes.
    pub write: Region,
    /// Working memory for this step only (an arena buffer): the fused block's rings and tiles.
    pub scratch: Option<Region>,
    /// The kernel reads and writes `write` itself (in-place elementwise ops). The planner may
    /// also turn an out-of-place step into this (see `Step::may_run_in_place`).
    pub in_place: bool,
    /// ONNX node names this step computes.
    pub origin: Vec<String>,
    /// What the step is, for comments.
    pub label: String,
}

impl Kernel {
    /// The step writes an 8-bit tensor.
    pub fn writes_bytes(&self) -> bool {
        matches!(
            self,
            Kernel::Load { .. }
                | Kernel::Quantize(_)
                | Kernel::Lookup { .. }
                | Kernel::CopyBytes(_)
                | Kernel::QGemm(_)
                | Kernel::QDepthwise(_)
                | Kernel::QConv2d(_)
                | Kernel::QConvGemm(_)
                | Kernel::QBlock(_)
                | Kernel::QPool(_)
                | Kernel::QBinary(_)
        )
    }
}

impl Step {
    /// Elementwise steps whose output could overwrite their first read.
    pub fn may_run_in_place(&self) -> bool {
        match &self.kernel {
            Kernel::Activation(_) => true,
            Kernel::Binary(b) => {
                let contiguous = {
                    let mut s = [1usize; MAX_RANK];
                    for i in (0..MAX_RANK - 1).rev() {
                        s[i] = s[i + 1] * b.shape[i + 1];
                    }
                    s
                };
                b.a_strides == contiguous && self.reads[0].len == self.write.len
            }
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
/// A kernel of `mobilenet-kernels` with its parameters; the docs list what a step reads.
pub enum Kernel {
    /// reads: a, b, bias?, residual?. `images`: the rows are that many equal runs, one per
    /// image (a pointwise conv's pixels); 1 where the rows do not follow the images.
    Gemm {
        /// Sizes, strides and activation.
        p: k::gemm::Gemm,
        /// A bias is read.
        bias: bool,
        /// A residual is read.
        residual: bool,
        /// Equal runs of rows, one per image.
        images: usize,
    },
    /// reads: input, weights, bias, residual?
    Depthwise {
        /// Shape, window and activation.
        p: k::depthwise::Depthwise,
        /// A residual is read.
        residual: bool,
    },
    /// reads: input, weights, bias, residual?
    Conv2d {
        /// Shape, window and activation.
        p: k::direct::Conv2d,
        /// A residual is read.
        residual: bool,
    },
    /// A pointwise conv whose input first goes through a squeeze-and-excitation gate (a Mul
    /// by `[images, k, 1, 1]`), the gate folded into `b` per image. reads: a, b, bias, gate,
    /// residual?; scratch (the gated `b`).
    GatedGemm {
        /// Sizes, strides and activation.
        p: k::gemm::Gemm,
        /// Images in the batch (one gate each).
        images: usize,
        /// A residual is read.
        residual: bool,
    },
    /// expand -> depthwise -> project in row tiles. reads: input, the six weight arrays (in
    /// `fused::Weights` order; the expand ones empty without expansion), residual?; scratch.
    Fused {
        /// The three convolutions' shapes and activations.
        p: k::fused::InvertedResidual,
        /// A residual is read.
        residual: bool,
    },
    /// reads: input
    Pool2d(k::pool::Pool2d),
    /// reads: input
    GlobalAverage(k::pool::GlobalPool),
    /// reads: input
    MeanRows {
        /// Rows averaged.
        rows: usize,
        /// Elements per row.
        len: usize,
    },
    /// reads: a, b (or, in place: b)
    Binary(k::elementwise::Binary),
    /// reads: input (or nothing, in place)
    Activation(Act),
    /// reads: input
    Softmax(k::softmax::Softmax),
    /// reads: source; writes a view of the whole destination buffer
    Copy(k::layout::StridedCopy),
    /// reads: nothing
    Fill(f32),
    /// The model's 8-bit input copied into the arena (`flip`: int8, stored as u8). reads:
    /// nothing (the input is the caller's bytes).
    Load {
        /// Bytes.
        len: usize,
        /// Flip the top bit of each byte.
        flip: bool,
    },
    /// reads: f32 input; writes bytes
    Quantize(k::int8::convert::Quantize),
    /// reads: bytes; writes f32
    Dequantize(k::int8::convert::Dequantize),
    /// reads: the 256-byte table, input bytes
    Lookup {
        /// Bytes.
        len: usize,
    },
    /// reads: source bytes
    CopyBytes(k::layout::StridedCopy),
    /// reads: a (bytes), packed b (int8), constants (int32), multipliers (f32)
    QGemm(k::int8::gemm::QGemm),
    /// reads: input (bytes), weights (int16), bias (int32), multipliers (f32)
    QDepthwise(k::int8::depthwise::QDepthwise),
    /// reads: input (bytes), weights (int16), bias (int32), multipliers (f32)
    QConv2d(k::int8::conv::QConv2d),
    /// reads: input (bytes), packed b (int8), constants (int32), multipliers (f32)
    QConvGemm(k::int8::conv::QConvGemm),
    /// [stem | expand] -> depthwise -> project by rows. reads: input (bytes), the nine weight
    /// arrays (`int8::fused::Weights` order; the first three empty without a first conv);
    /// scratch.
    QBlock(k::int8::fused::QBlock),
    /// reads: input bytes
    QPool(k::int8::pool::QPool),
    /// reads: a, b (bytes)
    QBinary(k::int8::elementwise::QBinary),
}

/// The lowered model.
#[derive(Clone, Debug)]
pub struct Program {
    /// Kernel calls in execution order.
    pub steps: Vec<Step>,
    /// Arena buffers, placed by the memory plan.
    pub buffers: Vec<Buffer>,
    /// The packed weight blob.
    pub weights: Vec<f32>,
    /// ONNX name of the input.
    pub input_name: String,
    /// Its shape.
    pub input_shape: Vec<usize>,
    /// Its element type.
    pub input_type: ElemType,
    /// ONNX name of the output.
    pub output_name: String,
    /// Its shape.
    pub output_shape: Vec<usize>,
    /// Its element type.
    pub output_type: ElemType,
    /// Where the output is when the last step has run (row-major, contiguous).
    pub output: Region,
    /// Most threads the program may run with.
    pub max_threads: usize,
    /// Batch > 1: the first steps run image by image (`image_loop.rs`).
    pub image_loop: Option<ImageLoop>,
}

/// The first `steps` steps of a batch program run once per image, image after image, each
/// step on one image; the steps after them run once on the whole batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageLoop {
    /// How many steps run per image.
    pub steps: usize,
    /// Images in the batch.
    pub images: usize,
    /// Memories that hold every image (the input, and the arena buffers the loop hands on to
    /// the steps after it), with the distance between images: a loop step's region there is
    /// image 0's, and image `i` reads or writes it `i * stride` further on.
    pub strided: Vec<(Loc, usize)>,
}

impl Program {
    /// Elements of the input.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }
    /// Elements of the output.
    pub fn output_len(&self) -> usize {
        self.output_shape.iter().product()
    }
    /// Words of arena the output takes (four bytes to a word for an 8-bit output).
    pub fn output_words(&self) -> usize {
        if self.output_type.is_byte() { self.output_len().div_ceil(4) } else { self.output_len() }
    }

    /// Distance between images of `loc` within the image loop (0: the same memory for every
    /// image, as for weights, scratch and the buffers the loop keeps to itself).
    pub fn image_stride(&self, loc: Loc) -> usize {
        let Some(lp) = &self.image_loop else { return 0 };
        lp.strided.iter().find(|(l, _)| *l == loc).map_or(0, |&(_, s)| s)
    }

    /// The order steps run in: `(index, image)` for each call, `image` being `Some` inside the
    /// image loop.
    pub fn schedule(&self) -> impl Iterator<Item = (usize, Option<usize>)> + '_ {
        let (looped, images) = self.image_loop.as_ref().map_or((0, 0), |lp| (lp.steps, lp.images));
        let inside = (0..images).flat_map(move |img| (0..looped).map(move |i| (i, Some(img))));
        inside.chain((looped..self.steps.len()).map(|i| (i, None)))
    }

    /// Step `i` as image `image` of the loop runs it: its regions moved to that image.
    pub fn step_at(&self, i: usize, image: Option<usize>) -> std::borrow::Cow<'_, Step> {
        let s = &self.steps[i];
        let Some(img) = image.filter(|&img| img > 0) else { return std::borrow::Cow::Borrowed(s) };
        let mut s = s.clone();
        for r in s.reads.iter_mut().chain([&mut s.write]) {
            r.offset += img * self.image_stride(r.loc);
        }
        std::borrow::Cow::Owned(s)
    }
}

/// A tensor as lowering sees it: a region and a strided view of it (strides per logical axis,
/// in elements, from the region's start).
#[derive(Clone, Debug)]
struct Value {
    region: Region,
    shape: Vec<usize>,
    strides: Vec<usize>,
    /// An 8-bit tensor (u8, four to a word; int8 tensors are stored as u8, see `quant.rs`):
    /// strides count bytes, the region words.
    bytes: bool,
}

/// NCHW logical shape, NHWC memory: strides (n: HWC, c: 1, h: WC, w: C).
fn nhwc(shape: &[usize]) -> Vec<usize> {
    let [_, c, h, w] = shape[..] else { return row_major(shape) };
    vec![h * w * c, 1, w * c, c]
}

/// Strides agree wherever the dimension is larger than 1 (size-1 axes have no stride to speak of).
fn same_layout(shape: &[usize], a: &[usize], b: &[usize]) -> bool {
    shape.iter().zip(a.iter().zip(b)).all(|(&d, (x, y))| d <= 1 || x == y)
}

impl Value {
    fn is(&self, strides: &[usize]) -> bool {
        self.region.len == self.words(self.shape.iter().product::<usize>())
            && same_layout(&self.shape, &self.strides, strides)
    }
    fn is_row_major(&self) -> bool {
        self.is(&row_major(&self.shape))
    }
    fn is_nhwc(&self) -> bool {
        self.shape.len() == 4 && self.is(&nhwc(&self.shape))
    }
    /// Words of memory `elements` elements of this value's type take.
    fn words(&self, elements: usize) -> usize {
        if self.bytes { elements.div_ceil(4) } else { elements }
    }
}

/// Pads `v` to MAX_RANK with leading `fill`.
fn pad6(v: &[usize], fill: usize) -> Result<[usize; MAX_RANK]> {
    if v.len() > MAX_RANK {
        return Err(err!(
            unsupported,
            "tensors of rank {} are not supported at run time (at most {MAX_RANK})",
            v.len()
        ));
    }
    let mut out = [fill; MAX_RANK];
    out[MAX_RANK - v.len()..].copy_from_slice(v);
    Ok(out)
}

/// The kernels' window (padding after the input follows from the output size there).
pub(crate) fn window_of(w: &crate::ir::Window) -> k::Window {
    k::Window {
        kernel_h: w.kernel[0],
        kernel_w: w.kernel[1],
        stride_h: w.strides[0],
        stride_w: w.strides[1],
        dilation_h: w.dilations[0],
        dilation_w: w.dilations[1],
        pad_top: w.pads[0],
        pad_left: w.pads[1],
    }
}

fn act_of(a: Option<Activation>) -> Act {
    a.map_or(Act::None, Act::from)
}

fn bin_op(b: BinaryOp) -> k::elementwise::BinOp {
    b.into()
}

struct Lowering<'g> {
    g: &'g Graph,
    steps: Vec<Step>,
    buffers: Vec<Buffer>,
    weights: Vec<f32>,
    values: HashMap<NodeId, Value>,
    /// Constants already placed in the blob as they are (row-major).
    raw_constants: HashMap<NodeId, Region>,
    /// Origin of the node being lowered (given to the steps it emits).
    origin: Vec<String>,
    label: String,
    max_threads: usize,
    /// Gate multiplications folded into the pointwise conv that reads them (Mul -> conv).
    gated: HashMap<NodeId, NodeId>,
    /// Most values the weight blob may hold.
    max_weights: usize,
}

/// Lowers an optimised, typed graph with one input and one output. `max_threads` is the most
/// threads the generated code may run with (scratch memory is reserved for each). A batch
/// runs its first layers image by image where they move more than `image_loop::CACHE_BYTES`.
pub fn lower(g: &Graph, max_threads: usize) -> Result<Program> {
    lower_with(g, max_threads, Some(image_loop::CACHE_BYTES), &Limits::default())
}

/// `lower`, choosing the image loop's threshold (`None`: the whole batch runs layer by layer).
/// `limits.max_total_weights` bounds the packed weight blob.
pub fn lower_with(g: &Graph, max_threads: usize, image_loop_bytes: Option<usize>, limits: &Limits) -> Result<Program> {
    if !(1..=k::threads::MAX_THREADS).contains(&max_threads) {
        return Err(err!(usage, "threads must be 1 to {}, not {max_threads}", k::threads::MAX_THREADS));
    }
    if g.inputs.len() != 1 || g.outputs().len() != 1 {
        return Err(err!(
            unsupported,
            "code generation handles one input and one output; the graph has {} and {}",
            g.inputs.len(),
            g.outputs().len()
        ));
    }
    let mut l = Lowering {
        g,
        steps: Vec::new(),
        buffers: Vec::new(),
        weights: Vec::new(),
        values: HashMap::new(),
        raw_constants: HashMap::new(),
        origin: Vec::new(),
        label: String::new(),
        max_threads,
        gated: HashMap::new(),
        max_weights: usize::try_from(limits.max_total_weights).unwrap_or(usize::MAX),
    };
    // Fused groups run as one step when the last conv of the group is reached; the convs
    // before it produce nothing of their own.
    let mut fusable = fused::fusable_groups(g, max_threads);
    fusable.extend(quant::fusable_blocks(g)?);
    let group_of: HashMap<NodeId, usize> =
        fusable.iter().enumerate().flat_map(|(i, grp)| grp.iter().map(move |&n| (n, i))).collect();
    l.gated = conv::gated_pointwise(g, &group_of)?;
    for n in g.topo_order()? {
        let node = g.node(n);
        if let Op::Constant(_) = node.op {
            continue; // placed on first use, packed as its consumer needs
        }
        if l.gated.contains_key(&n) {
            continue; // computed by the conv that reads it
        }
        let group = group_of.get(&n).map(|&i| &fusable[i]);
        if group.is_some_and(|grp| grp.last() != Some(&n)) {
            continue;
        }
        let nodes: Vec<NodeId> = group.cloned().unwrap_or_else(|| vec![n]);
        l.origin = nodes.iter().flat_map(|&m| g.node(m).origin.clone()).collect();
        l.label = format!("{} {}", if nodes.len() > 1 { "Block" } else { g.op(n).name() }, node.name);
        let v = match nodes.len() {
            1 => l.lower_node(n),
            _ if matches!(g.op(nodes[0]), Op::QConv(_)) => l.qblock(&nodes),
            _ => l.fused(&nodes),
        };
        let v = v.map_err(|e| e.at_node(&g.context(n)))?;
        l.values.insert(n, v);
    }
    let out_node = g.outputs()[0].node;
    let out = l.value(out_node)?;
    let type_of = |n: NodeId| -> Result<ElemType> {
        let d = g.ty(n)?.dtype;
        ElemType::of(d).ok_or_else(|| err!(unsupported, "a model whose input or output is {d} is not supported"))
    };
    let (input_type, output_type) = (type_of(g.inputs[0].node)?, type_of(out_node)?);
    let out = if output_type == ElemType::I8 { l.flip_bytes(out)? } else { out };
    // The caller gets a contiguous row-major array, in the arena.
    let out = if out.is_row_major() && matches!(out.region.loc, Loc::Arena(_)) {
        out
    } else {
        l.copy_to(&out, row_major(&out.shape))?
    };
    let input = &g.inputs[0];
    let mut prog = Program {
        input_name: input.name.clone(),
        input_shape: g.shape(input.node)?.to_vec(),
        output_name: g.outputs()[0].name.clone(),
        output_shape: out.shape.clone(),
        input_type,
        output_type,
        output: out.region,
        max_threads,
        steps: l.steps,
        buffers: l.buffers,
        weights: l.weights,
        image_loop: None,
    };
    // 8-bit programs run their batch layer by layer (their buffers need not hold whole words
    // per image).
    let has_bytes = input_type.is_byte() || prog.steps.iter().any(|s| s.kernel.writes_bytes());
    if let (Some(bytes), false) = (image_loop_bytes, has_bytes) {
        image_loop::apply(&mut prog, bytes);
    }
    Ok(prog)
}

impl Lowering<'_> {
    fn value(&mut self, n: NodeId) -> Result<Value> {
        if let Some(v) = self.values.get(&n) {
            return Ok(v.clone());
        }
        match self.g.op(n) {
            Op::Constant(t) => {
                let region = self.raw_constant(n, t)?;
                Ok(Value { region, shape: t.shape.clone(), strides: row_major(&t.shape), bytes: false })
            }
            _ => Err(Error::internal(format!("value '{}' used before it is computed", self.g.node(n).name))),
        }
    }

    fn operand(&mut self, n: NodeId, slot: usize) -> Result<Value> {
        let src = self.g.operand(n, slot).ok_or_else(|| err!(internal, "missing operand {slot}"))?;
        self.value(src)
    }

    /// The float values of a constant operand (weights must be known at compile time).
    fn constant_operand(&self, n: NodeId, slot: usize, what: &str) -> Result<&Tensor> {
        self.g
            .operand(n, slot)
            .and_then(|c| self.g.constant(c))
            .filter(|t| t.dtype == crate::ir::DType::F32)
            .ok_or_else(|| {
                err!(unsupported, "the {what} must be a constant; computing it at run time is not supported")
            })
    }

    /// Appends packed weights to the blob, which holds at most `Limits::max_total_weights`
    /// values (a weight that several convolutions share is packed for each).
    fn add_weights(&mut self, data: &[f32]) -> Result<Region> {
        let offset = self.weights.len().next_multiple_of(WEIGHT_ALIGN);
        if offset + data.len() > self.max_weights {
            return Err(err!(
                limit,
                "the packed weights exceed {} values (Limits::max_total_weights)",
                self.max_weights
            ));
        }
        self.weights.resize(offset, 0.0);
        self.weights.extend_from_slice(data);
        Ok(Region { loc: Loc::Weights, offset, len: data.len() })
    }

    fn raw_constant(&mut self, n: NodeId, t: &Tensor) -> Result<Region> {
        if let Some(r) = self.raw_constants.get(&n) {
            return Ok(*r);
        }
        let data = t.as_f32().ok_or_else(|| {
            err!(unsupported, "integer tensor '{}' is used at run time; only float tensors are", self.g.node(n).name)
        })?;
        let r = self.add_weights(data)?;
        self.raw_constants.insert(n, r);
        Ok(r)
    }

    fn new_buffer(&mut self, len: usize) -> Region {
        self.buffers.push(Buffer { len, name: self.label.clone() });
        Region { loc: Loc::Arena(self.buffers.len() - 1), offset: 0, len }
    }

    fn push(&mut self, kernel: Kernel, reads: Vec<Region>, write: Region) {
        let step = Step {
            kernel,
            reads,
            write,
            scratch: None,
            in_place: false,
            origin: self.origin.clone(),
            label: self.label.clone(),
        };
        self.steps.push(step);
    }

    /// Copies `v` into a new buffer with the given strides (which must describe a dense layout).
    fn copy_to(&mut self, v: &Value, strides: Vec<usize>) -> Result<Value> {
        let len = v.words(v.shape.iter().product());
        let out = self.new_buffer(len);
        let p = k::layout::StridedCopy {
            shape: pad6(&v.shape, 1)?,
            src_strides: pad6(&v.strides, 0)?,
            src_offset: 0,
            dst_strides: pad6(&strides, 0)?,
            dst_offset: 0,
        };
        self.push(if v.bytes { Kernel::CopyBytes(p) } else { Kernel::Copy(p) }, vec![v.region], out);
        Ok(Value { region: out, shape: v.shape.clone(), strides, bytes: v.bytes })
    }

    fn nhwc_of(&mut self, v: Value) -> Result<Value> {
        if v.is_nhwc() { Ok(v) } else { self.copy_to(&v, nhwc(&v.shape)) }
    }

    fn row_major_of(&mut self, v: Value) -> Result<Value> {
        if v.is_row_major() { Ok(v) } else { self.copy_to(&v, row_major(&v.shape)) }
    }

    fn shape(&self, n: NodeId) -> Result<Vec<usize>> {
        Ok(self.g.shape(n)?.to_vec())
    }

    fn lower_node(&mut self, n: NodeId) -> Result<Value> {
        let shape = self.shape(n)?;
        let dtype = self.g.ty(n)?.dtype;
        let op = self.g.op(n).clone();
        let byte_op = matches!(
            op,
            Op::Input { .. }
                | Op::View { .. }
                | Op::Reshape { .. }
                | Op::Flatten { .. }
                | Op::Squeeze { .. }
                | Op::Unsqueeze { .. }
                | Op::Identity { .. }
                | Op::Transpose { .. }
                | Op::Quantize(_)
                | Op::QConv(_)
                | Op::QGemm(_)
                | Op::QBinary(_)
                | Op::QPool(_)
                | Op::QLookup(_)
        );
        let supported = match dtype {
            crate::ir::DType::F32 => true,
            crate::ir::DType::U8 | crate::ir::DType::I8 => byte_op,
            _ => false,
        };
        if !supported {
            return Err(err!(
                unsupported,
                "{} on {} is left at run time; code generation supports it on float32 only",
                op.name(),
                self.g.ty(n)?
            ));
        }
        match op {
            Op::Input { .. } if dtype != crate::ir::DType::F32 => self.byte_input(dtype, shape),
            Op::Quantize(q) => self.quantize(n, &q, shape),
            Op::Dequantize(q) => self.dequantize(n, &q, shape),
            Op::QConv(c) => self.qconv(n, &c, shape),
            Op::QGemm(q) => self.qgemm(n, &q, shape),
            Op::QBinary(q) => self.qbinary(n, &q, shape),
            Op::QPool(q) => self.qpool(n, &q, shape),
            Op::QLookup(l) => self.lookup(n, &l, shape),
            Op::Input { .. } => {
                let len = shape.iter().product();
                Ok(Value {
                    region: Region { loc: Loc::Input, offset: 0, len },
                    strides: row_major(&shape),
                    shape,
                    bytes: false,
                })
            }
            Op::Constant(_) => unreachable!("constants are placed on use"),
            Op::Conv(c) => self.conv(n, &c, shape),
            Op::Gemm(gm) => self.gemm(n, &gm, shape),
            Op::MatMul => self.matmul(n, shape),
            Op::Activation(a) => {
                let x = self.operand(n, 0)?;
                let x = if x.is_row_major() || x.is_nhwc() { x } else { self.row_major_of(x)? };
                let out = self.new_buffer(x.region.len);
                self.push(Kernel::Activation(act_of(Some(a))), vec![x.region], out);
                Ok(Value { region: out, shape, strides: x.strides, bytes: false })
            }
            Op::Binary(b) => self.binary(n, b, shape),
            Op::GlobalAveragePool => {
                let x = self.operand(n, 0)?;
                self.global_average(x, shape)
            }
            Op::Pool(p) => self.pool(n, &p, shape),
            Op::ReduceMean { axes, .. } => self.reduce_mean(n, &axes, shape),
            Op::View { .. } | Op::Reshape { .. } | Op::Flatten { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } => {
                self.view(n, shape)
            }
            Op::Identity { .. } => self.operand(n, 0),
            Op::Cast { to } if to.is_float() => self.operand(n, 0),
            Op::Transpose { perm } => self.transpose(n, &perm, shape),
            Op::Softmax { axis, coerce_2d } => self.softmax(n, axis, coerce_2d, shape),
            Op::Pad { pads, value, .. } => self.pad(n, &pads, value, shape),
            Op::Slice { starts, ends, axes, steps } => self.slice(n, &starts, &ends, &axes, &steps, shape),
            Op::Concat { axis } => self.concat(n, axis, shape),
            Op::Gather { axis } => self.gather(n, axis, shape),
            other => Err(err!(unsupported, "{} is not supported by code generation", other.name())),
        }
    }
}
