//! Kernel parameters as Rust struct literals: every shape, stride and padding a constant in the
//! generated source. Each function lists every field of its struct, so adding a field to a
//! kernel breaks the build of generated code until it is emitted here.

use mobilenet_kernels as k;
use proc_macro2::{Literal, TokenStream};
use quote::quote;

fn u(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

/// A count, as an unsuffixed literal.
pub fn lit(v: usize) -> TokenStream {
    let l = u(v);
    quote!(#l)
}

/// A float constant (activation bounds), with the infinities and NaN spelled out (they have no
/// literal), and the largest finite floats (Clip's default bounds) by name.
pub fn float(v: f32) -> TokenStream {
    if v == f32::INFINITY {
        quote!(f32::INFINITY)
    } else if v == f32::NEG_INFINITY {
        quote!(f32::NEG_INFINITY)
    } else if v == f32::MAX {
        quote!(f32::MAX)
    } else if v == f32::MIN {
        quote!(f32::MIN)
    } else if v.is_nan() {
        quote!(f32::NAN)
    } else {
        let lit = Literal::f32_unsuffixed(v);
        quote!(#lit)
    }
}

pub fn act(a: k::Act) -> TokenStream {
    match a {
        k::Act::None => quote!(rt::Act::None),
        k::Act::Relu => quote!(rt::Act::Relu),
        k::Act::Clip { min, max } => {
            let (min, max) = (float(min), float(max));
            quote!(rt::Act::Clip { min: #min, max: #max })
        }
        k::Act::HardSigmoid { alpha, beta } => {
            let (alpha, beta) = (float(alpha), float(beta));
            quote!(rt::Act::HardSigmoid { alpha: #alpha, beta: #beta })
        }
        k::Act::HardSwish => quote!(rt::Act::HardSwish),
        k::Act::Sigmoid => quote!(rt::Act::Sigmoid),
    }
}

fn arr<const N: usize>(v: [usize; N]) -> TokenStream {
    let items = v.iter().map(|&x| u(x));
    quote!([#(#items),*])
}

/// Fields printed as they are (`bool`).
fn same<T>(v: T) -> T {
    v
}

/// `literal!(p, module::Struct { field: convert, .. })` prints `rt::module::Struct { .. }` with
/// each field of `*p` passed through its `convert` function. The fields are destructured by
/// name without `..`, so a field added to a kernel's struct fails to compile here.
macro_rules! literal {
    ($p:expr, $module:ident :: $name:ident { $($field:ident: $convert:expr),* $(,)? }) => {
        literal!($p, ($module) :: $name { $($field: $convert),* })
    };
    ($p:expr, ($($module:ident)::+) :: $name:ident { $($field:ident: $convert:expr),* $(,)? }) => {{
        let k::$($module::)+$name { $($field),* } = *$p;
        $(let $field = $convert($field);)*
        quote!(rt::$($module::)+$name { $($field: #$field),* })
    }};
}

fn int(v: i32) -> TokenStream {
    let l = Literal::i32_unsuffixed(v);
    quote!(#l)
}

fn boolean(v: bool) -> TokenStream {
    quote!(#v)
}

fn requant_lit(r: k::int8::Requant) -> TokenStream {
    literal!(&r, (int8)::Requant { zero_point: int, lo: int, hi: int })
}

pub fn qgemm(p: &k::int8::gemm::QGemm) -> TokenStream {
    literal!(p, (int8::gemm)::QGemm { m: u, k: u, n: u, row_sums: boolean, requant: requant_lit })
}

pub fn qdepthwise(p: &k::int8::depthwise::QDepthwise) -> TokenStream {
    literal!(
        p,
        (int8::depthwise)::QDepthwise {
            images: u,
            channels: u,
            in_h: u,
            in_w: u,
            out_h: u,
            out_w: u,
            win: window,
            x_zero: int,
            requant: requant_lit,
        }
    )
}

pub fn qconv2d(p: &k::int8::conv::QConv2d) -> TokenStream {
    literal!(
        p,
        (int8::conv)::QConv2d {
            images: u,
            in_c: u,
            in_h: u,
            in_w: u,
            out_c: u,
            out_h: u,
            out_w: u,
            groups: u,
            win: window,
            x_zero: int,
            requant: requant_lit,
        }
    )
}

pub fn qconv_gemm(p: &k::int8::conv::QConvGemm) -> TokenStream {
    literal!(
        p,
        (int8::conv)::QConvGemm {
            images: u,
            in_c: u,
            in_h: u,
            in_w: u,
            out_c: u,
            out_h: u,
            out_w: u,
            win: window,
            x_zero: int,
            row_sums: boolean,
            requant: requant_lit,
        }
    )
}

fn first_lit(f: k::int8::fused::First) -> TokenStream {
    match f {
        k::int8::fused::First::None => quote!(rt::int8::fused::First::None),
        k::int8::fused::First::Expand(g) => {
            let g = qgemm(&g);
            quote!(rt::int8::fused::First::Expand(#g))
        }
        k::int8::fused::First::Stem(c) => {
            let c = qconv_gemm(&c);
            quote!(rt::int8::fused::First::Stem(#c))
        }
    }
}

fn qdepthwise_lit(p: k::int8::depthwise::QDepthwise) -> TokenStream {
    qdepthwise(&p)
}

fn qgemm_lit(p: k::int8::gemm::QGemm) -> TokenStream {
    qgemm(&p)
}

pub fn qblock(p: &k::int8::fused::QBlock) -> TokenStream {
    literal!(
        p,
        (int8::fused)::QBlock {
            images: u,
            in_h: u,
            in_w: u,
            in_c: u,
            first: first_lit,
            dw: qdepthwise_lit,
            project: qgemm_lit,
        }
    )
}

fn opt_window(w: Option<k::Window>) -> TokenStream {
    match w {
        Some(w) => {
            let w = window(w);
            quote!(Some(#w))
        }
        None => quote!(None),
    }
}

pub fn qpool(p: &k::int8::pool::QPool) -> TokenStream {
    literal!(
        p,
        (int8::pool)::QPool {
            images: u,
            channels: u,
            in_h: u,
            in_w: u,
            out_h: u,
            out_w: u,
            win: opt_window,
            pad_bottom: u,
            pad_right: u,
            count_include_pad: boolean,
            x_scale: float,
            x_zero: int,
            y_scale: float,
            requant: requant_lit,
        }
    )
}

fn qbin_op(op: k::int8::elementwise::QBinOp) -> TokenStream {
    match op {
        k::int8::elementwise::QBinOp::Add(a) => {
            let a = literal!(
                &a,
                (quant)::Add {
                    a_ratio: float,
                    a_zero_point: int,
                    b_ratio: float,
                    b_zero_point: int,
                    y_zero_point: int,
                    lo: int,
                    hi: int,
                }
            );
            quote!(rt::int8::elementwise::QBinOp::Add(#a))
        }
        k::int8::elementwise::QBinOp::Mul { a_zero, b_zero, mult, requant: r } => {
            let (a_zero, b_zero, mult, r) = (int(a_zero), int(b_zero), float(mult), requant_lit(r));
            quote!(rt::int8::elementwise::QBinOp::Mul { a_zero: #a_zero, b_zero: #b_zero, mult: #mult, requant: #r })
        }
    }
}

pub fn qbinary(p: &k::int8::elementwise::QBinary) -> TokenStream {
    literal!(p, (int8::elementwise)::QBinary { op: qbin_op, shape: arr, a_strides: arr, b_strides: arr })
}

pub fn quantize(p: &k::int8::convert::Quantize) -> TokenStream {
    literal!(p, (int8::convert)::Quantize { len: u, scale: float, zero_point: int, lo: int, hi: int, channels: u, plane: u })
}

pub fn dequantize(p: &k::int8::convert::Dequantize) -> TokenStream {
    literal!(p, (int8::convert)::Dequantize { len: u, scale: float, zero_point: int })
}

/// A flag (`true`/`false`).
pub fn flag(v: bool) -> TokenStream {
    boolean(v)
}

fn window(w: k::Window) -> TokenStream {
    literal!(
        &w,
        window::Window {
            kernel_h: u,
            kernel_w: u,
            stride_h: u,
            stride_w: u,
            dilation_h: u,
            dilation_w: u,
            pad_top: u,
            pad_left: u,
        }
    )
}

pub fn gemm(p: &k::gemm::Gemm) -> TokenStream {
    literal!(p, gemm::Gemm { m: u, k: u, n: u, act: self::act })
}

pub fn depthwise(p: &k::depthwise::Depthwise) -> TokenStream {
    literal!(
        p,
        depthwise::Depthwise {
            batch: u,
            in_h: u,
            in_w: u,
            channels: u,
            out_h: u,
            out_w: u,
            win: window,
            act: self::act,
        }
    )
}

pub fn conv2d(p: &k::direct::Conv2d) -> TokenStream {
    literal!(
        p,
        direct::Conv2d {
            batch: u,
            in_h: u,
            in_w: u,
            in_c: u,
            out_h: u,
            out_w: u,
            out_c: u,
            groups: u,
            win: window,
            act: self::act,
            input_nchw: same,
        }
    )
}

fn stem(c: Option<k::direct::Conv2d>) -> TokenStream {
    match c {
        Some(c) => {
            let c = conv2d(&c);
            quote!(Some(#c))
        }
        None => quote!(None),
    }
}

pub fn inverted_residual(p: &k::fused::InvertedResidual) -> TokenStream {
    literal!(
        p,
        fused::InvertedResidual {
            batch: u,
            in_h: u,
            in_w: u,
            in_c: u,
            hidden: u,
            expand: same,
            expand_act: self::act,
            stem: self::stem,
            out_h: u,
            out_w: u,
            win: window,
            dw_act: self::act,
            out_c: u,
            project_act: self::act,
            tile_rows: u,
            strip_w: u,
        }
    )
}

fn pool_kind(kind: k::pool::PoolKind) -> TokenStream {
    match kind {
        k::pool::PoolKind::Max => quote!(rt::pool::PoolKind::Max),
        k::pool::PoolKind::Average { count_include_pad } => {
            quote!(rt::pool::PoolKind::Average { count_include_pad: #count_include_pad })
        }
    }
}

pub fn pool2d(p: &k::pool::Pool2d) -> TokenStream {
    literal!(
        p,
        pool::Pool2d {
            batch: u,
            in_h: u,
            in_w: u,
            channels: u,
            out_h: u,
            out_w: u,
            win: window,
            pad_bottom: u,
            pad_right: u,
            kind: pool_kind,
        }
    )
}

pub fn global_pool(p: &k::pool::GlobalPool) -> TokenStream {
    literal!(p, pool::GlobalPool { batch: u, pixels: u, channels: u })
}

fn bin_op(op: k::elementwise::BinOp) -> TokenStream {
    use k::elementwise::BinOp;
    let op = match op {
        BinOp::Add => quote!(Add),
        BinOp::Sub => quote!(Sub),
        BinOp::Mul => quote!(Mul),
        BinOp::Div => quote!(Div),
        BinOp::Max => quote!(Max),
        BinOp::Min => quote!(Min),
    };
    quote!(rt::elementwise::BinOp::#op)
}

pub fn binary(p: &k::elementwise::Binary) -> TokenStream {
    literal!(p, elementwise::Binary { op: bin_op, shape: arr, a_strides: arr, b_strides: arr })
}

pub fn softmax(p: &k::softmax::Softmax) -> TokenStream {
    literal!(p, softmax::Softmax { outer: u, len: u, inner: u })
}

pub fn strided_copy(p: &k::layout::StridedCopy) -> TokenStream {
    literal!(p, layout::StridedCopy { shape: arr, src_strides: arr, src_offset: u, dst_strides: arr, dst_offset: u })
}
