//! Kernel parameters as Rust struct literals: every shape, stride and padding a constant in the
//! generated source. Each function lists every field of its struct, so adding a field to a
//! kernel breaks the build of generated code until it is emitted here.

use mobilenet_kernels as k;
use proc_macro2::{Literal, TokenStream};
use quote::quote;

fn u(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

/// A float constant (activation bounds), with the infinities and NaN spelled out (they have no
/// literal).
pub fn float(v: f32) -> TokenStream {
    if v == f32::INFINITY {
        quote!(f32::INFINITY)
    } else if v == f32::NEG_INFINITY {
        quote!(f32::NEG_INFINITY)
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

fn arr(v: &[usize]) -> TokenStream {
    let items = v.iter().map(|&x| u(x));
    quote!([#(#items),*])
}

pub fn gemm(p: &k::gemm::Gemm) -> TokenStream {
    let (m, kk, n, act) = (u(p.m), u(p.k), u(p.n), act(p.act));
    quote!(rt::gemm::Gemm { m: #m, k: #kk, n: #n, act: #act })
}

pub fn depthwise(p: &k::depthwise::Depthwise) -> TokenStream {
    let k::depthwise::Depthwise {
        batch,
        in_h,
        in_w,
        channels,
        out_h,
        out_w,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        dilation_h,
        dilation_w,
        pad_top,
        pad_left,
        act: a,
    } = *p;
    let [
        batch,
        in_h,
        in_w,
        channels,
        out_h,
        out_w,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        dilation_h,
        dilation_w,
        pad_top,
        pad_left,
    ] = [
        batch, in_h, in_w, channels, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w,
        pad_top, pad_left,
    ]
    .map(u);
    let a = act(a);
    quote!(rt::depthwise::Depthwise {
        batch: #batch, in_h: #in_h, in_w: #in_w, channels: #channels, out_h: #out_h, out_w: #out_w,
        kernel_h: #kernel_h, kernel_w: #kernel_w, stride_h: #stride_h, stride_w: #stride_w,
        dilation_h: #dilation_h, dilation_w: #dilation_w, pad_top: #pad_top, pad_left: #pad_left, act: #a,
    })
}

pub fn conv2d(p: &k::direct::Conv2d) -> TokenStream {
    let k::direct::Conv2d {
        batch,
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        groups,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        dilation_h,
        dilation_w,
        pad_top,
        pad_left,
        act: a,
        input_nchw,
    } = *p;
    let [
        batch,
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        groups,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        dilation_h,
        dilation_w,
        pad_top,
        pad_left,
    ] = [
        batch, in_h, in_w, in_c, out_h, out_w, out_c, groups, kernel_h, kernel_w, stride_h, stride_w, dilation_h,
        dilation_w, pad_top, pad_left,
    ]
    .map(u);
    let a = act(a);
    quote!(rt::direct::Conv2d {
        batch: #batch, in_h: #in_h, in_w: #in_w, in_c: #in_c, out_h: #out_h, out_w: #out_w, out_c: #out_c,
        groups: #groups, kernel_h: #kernel_h, kernel_w: #kernel_w, stride_h: #stride_h, stride_w: #stride_w,
        dilation_h: #dilation_h, dilation_w: #dilation_w, pad_top: #pad_top, pad_left: #pad_left, act: #a,
        input_nchw: #input_nchw,
    })
}

pub fn pool2d(p: &k::pool::Pool2d) -> TokenStream {
    let k::pool::Pool2d {
        batch,
        in_h,
        in_w,
        channels,
        out_h,
        out_w,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        dilation_h,
        dilation_w,
        pad_top,
        pad_left,
        pad_bottom,
        pad_right,
        kind,
    } = *p;
    let kind = match kind {
        k::pool::PoolKind::Max => quote!(rt::pool::PoolKind::Max),
        k::pool::PoolKind::Average { count_include_pad } => {
            quote!(rt::pool::PoolKind::Average { count_include_pad: #count_include_pad })
        }
    };
    let [
        batch,
        in_h,
        in_w,
        channels,
        out_h,
        out_w,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        dilation_h,
        dilation_w,
        pad_top,
        pad_left,
        pad_bottom,
        pad_right,
    ] = [
        batch, in_h, in_w, channels, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w,
        pad_top, pad_left, pad_bottom, pad_right,
    ]
    .map(u);
    quote!(rt::pool::Pool2d {
        batch: #batch, in_h: #in_h, in_w: #in_w, channels: #channels, out_h: #out_h, out_w: #out_w,
        kernel_h: #kernel_h, kernel_w: #kernel_w, stride_h: #stride_h, stride_w: #stride_w,
        dilation_h: #dilation_h, dilation_w: #dilation_w, pad_top: #pad_top, pad_left: #pad_left,
        pad_bottom: #pad_bottom, pad_right: #pad_right, kind: #kind,
    })
}

pub fn global_pool(p: &k::pool::GlobalPool) -> TokenStream {
    let (batch, pixels, channels) = (u(p.batch), u(p.pixels), u(p.channels));
    quote!(rt::pool::GlobalPool { batch: #batch, pixels: #pixels, channels: #channels })
}

pub fn binary(p: &k::elementwise::Binary) -> TokenStream {
    use k::elementwise::BinOp;
    let op = match p.op {
        BinOp::Add => quote!(Add),
        BinOp::Sub => quote!(Sub),
        BinOp::Mul => quote!(Mul),
        BinOp::Div => quote!(Div),
        BinOp::Max => quote!(Max),
        BinOp::Min => quote!(Min),
    };
    let (shape, a, b) = (arr(&p.shape), arr(&p.a_strides), arr(&p.b_strides));
    quote!(rt::elementwise::Binary { op: rt::elementwise::BinOp::#op, shape: #shape, a_strides: #a, b_strides: #b })
}

pub fn softmax(p: &k::softmax::Softmax) -> TokenStream {
    let (outer, len, inner) = (u(p.outer), u(p.len), u(p.inner));
    quote!(rt::softmax::Softmax { outer: #outer, len: #len, inner: #inner })
}

pub fn strided_copy(p: &k::layout::StridedCopy) -> TokenStream {
    let (shape, ss, ds) = (arr(&p.shape), arr(&p.src_strides), arr(&p.dst_strides));
    let (so, d) = (u(p.src_offset), u(p.dst_offset));
    quote!(rt::layout::StridedCopy { shape: #shape, src_strides: #ss, src_offset: #so, dst_strides: #ds, dst_offset: #d })
}

pub fn inverted_residual(p: &k::fused::InvertedResidual) -> TokenStream {
    let k::fused::InvertedResidual {
        batch,
        in_h,
        in_w,
        in_c,
        hidden,
        expand,
        expand_act,
        out_h,
        out_w,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        dilation_h,
        dilation_w,
        pad_top,
        pad_left,
        dw_act,
        out_c,
        project_act,
        tile_rows,
    } = *p;
    let [
        batch,
        in_h,
        in_w,
        in_c,
        hidden,
        out_h,
        out_w,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        dilation_h,
        dilation_w,
        pad_top,
        pad_left,
        out_c,
        tile_rows,
    ] = [
        batch, in_h, in_w, in_c, hidden, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w,
        pad_top, pad_left, out_c, tile_rows,
    ]
    .map(u);
    let (expand_act, dw_act, project_act) = (act(expand_act), act(dw_act), act(project_act));
    quote!(rt::fused::InvertedResidual {
        batch: #batch, in_h: #in_h, in_w: #in_w, in_c: #in_c, hidden: #hidden, expand: #expand, expand_act: #expand_act,
        out_h: #out_h, out_w: #out_w, kernel_h: #kernel_h, kernel_w: #kernel_w, stride_h: #stride_h, stride_w: #stride_w,
        dilation_h: #dilation_h, dilation_w: #dilation_w, pad_top: #pad_top, pad_left: #pad_left, dw_act: #dw_act,
        out_c: #out_c, project_act: #project_act, tile_rows: #tile_rows,
    })
}
