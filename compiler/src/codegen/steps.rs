//! One kernel call per step: borrow the regions (arena regions around the written one), then
//! call the kernel with its constant parameters. Inside the image loop, regions that hold
//! every image are found `image * stride` further on.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::params;
use crate::lower::{Kernel, Loc, Program, Region, Step};
use crate::plan::Plan;

fn u(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

/// `offset`, moved by `image * stride` inside the image loop.
fn at(offset: usize, stride: usize) -> TokenStream {
    let (o, s) = (u(offset), u(stride));
    match (offset, stride) {
        (_, 0) => quote!(#o),
        (0, _) => quote!(image * #s),
        _ => quote!(#o + image * #s),
    }
}

/// The code of one step (`looped`: inside the image loop).
pub fn step(prog: &Program, plan: &Plan, s: &Step, looped: bool) -> TokenStream {
    let skip = usize::from(s.in_place);
    let reads = &s.reads[skip..];
    let stride = |r: &Region| if looped { prog.image_stride(r.loc) } else { 0 };
    let arena = |r: &Region| {
        let (o, l) = plan.arena_range(r).expect("the plan checked that steps write to the arena");
        (at(o, stride(r)), u(l))
    };
    let (wo, wl) = arena(&s.write);
    let arena_reads: Vec<(TokenStream, Literal)> =
        reads.iter().filter(|r| matches!(r.loc, Loc::Arena(_))).map(arena).collect();
    // Names for the reads, in order: arena reads come out of the split, the others are slices
    // of the input or the weights.
    let mut arena_names = Vec::new();
    let mut read_exprs = Vec::new();
    for (i, r) in reads.iter().enumerate() {
        read_exprs.push(match r.loc {
            Loc::Arena(_) => {
                let name = quote::format_ident!("r{}", i);
                arena_names.push(name.clone());
                quote!(#name)
            }
            Loc::Input => slice(quote!(input), r, stride(r)),
            Loc::Weights => slice(quote!(w), r, 0),
        });
    }
    let regions = arena_reads.iter().map(|(o, l)| quote!((#o, #l)));
    let borrow = if let Some(scratch) = &s.scratch {
        let (so, sl) = arena(scratch);
        quote!(let ([#(#arena_names),*], out, scratch) = rt::arena::split2(arena, [#(#regions),*], (#wo, #wl), (#so, #sl));)
    } else if arena_reads.is_empty() && stride(&s.write) == 0 {
        let (start, end) = (
            u(plan.arena_range(&s.write).map_or(0, |(o, _)| o)),
            u(plan.arena_range(&s.write).map_or(0, |(o, l)| o + l)),
        );
        quote!(let out = &mut arena[#start..#end];)
    } else if arena_reads.is_empty() {
        quote!(let out = &mut arena[#wo..][..#wl];)
    } else {
        quote!(let ([#(#arena_names),*], out) = rt::arena::split(arena, [#(#regions),*], (#wo, #wl));)
    };
    let arg = |i: usize| read_exprs[i].clone();
    let opt = |present: bool, i: usize| {
        if present {
            let e = arg(i);
            quote!(Some(#e))
        } else {
            quote!(None)
        }
    };
    let call = match &s.kernel {
        Kernel::Gemm { p, bias, residual, .. } => {
            let (params, a, b) = (params::gemm(p), arg(0), arg(1));
            let (bias_arg, res_arg) = (opt(*bias, 2), opt(*residual, 2 + *bias as usize));
            quote!(rt::gemm::gemm_parallel(threads, cpu, &#params, #a, #b, #bias_arg, #res_arg, out);)
        }
        Kernel::GatedGemm { p, images, residual } => {
            let (params, a, b, bias, gate, r) = (params::gemm(p), arg(0), arg(1), arg(2), arg(3), opt(*residual, 4));
            let images = u(*images);
            quote!(rt::gemm::gated_parallel(threads, cpu, &#params, #images, #a, #b, #gate, Some(#bias), #r, out, scratch);)
        }
        Kernel::Depthwise { p, residual } => {
            let (params, x, wt, b, r) = (params::depthwise(p), arg(0), arg(1), arg(2), opt(*residual, 3));
            quote!(rt::depthwise::depthwise_parallel(threads, cpu, &#params, #x, #wt, #b, #r, out);)
        }
        Kernel::Conv2d { p, residual } => {
            let (params, x, wt, b, r) = (params::conv2d(p), arg(0), arg(1), arg(2), opt(*residual, 3));
            quote!(rt::direct::conv2d_parallel(threads, cpu, &#params, #x, #wt, #b, #r, out);)
        }
        Kernel::Fused { p, residual } => {
            let params = params::inverted_residual(p);
            let (x, ew, eb, dw, db, pw, pb) = (arg(0), arg(1), arg(2), arg(3), arg(4), arg(5), arg(6));
            let r = opt(*residual, 7);
            quote!(rt::fused::inverted_residual(
                threads,
                cpu,
                &#params,
                #x,
                &rt::fused::Weights { expand: #ew, expand_bias: #eb, depthwise: #dw, depthwise_bias: #db, project: #pw, project_bias: #pb },
                #r,
                out,
                scratch,
            );)
        }
        Kernel::Pool2d(p) => {
            let (params, x) = (params::pool2d(p), arg(0));
            quote!(rt::pool::pool2d(cpu, &#params, #x, out);)
        }
        Kernel::GlobalAverage(p) => {
            let (params, x) = (params::global_pool(p), arg(0));
            quote!(rt::pool::global_average(cpu, &#params, #x, out);)
        }
        Kernel::MeanRows { rows, len } => {
            let (rows, len, x) = (u(*rows), u(*len), arg(0));
            quote!(rt::pool::mean_rows(cpu, #rows, #len, #x, out);)
        }
        Kernel::Binary(p) if s.in_place => {
            let (params, b) = (params::binary(p), arg(0));
            quote!(rt::elementwise::binary_in_place(cpu, &#params, out, #b);)
        }
        Kernel::Binary(p) => {
            let (params, a, b) = (params::binary(p), arg(0), arg(1));
            quote!(rt::elementwise::binary(cpu, &#params, #a, #b, out);)
        }
        Kernel::Activation(a) if s.in_place => {
            let a = params::act(*a);
            quote!(rt::elementwise::activation_in_place(cpu, #a, out);)
        }
        Kernel::Activation(a) => {
            let (a, x) = (params::act(*a), arg(0));
            quote!(rt::elementwise::activation(cpu, #a, #x, out);)
        }
        Kernel::Softmax(p) => {
            let (params, x) = (params::softmax(p), arg(0));
            quote!(rt::softmax::softmax(cpu, &#params, #x, out);)
        }
        Kernel::Copy(p) => {
            let (params, x) = (params::strided_copy(p), arg(0));
            quote!(rt::layout::copy(cpu, &#params, #x, out);)
        }
        Kernel::Fill(v) => {
            let v = params::float(*v);
            quote!(rt::layout::fill(out, #v);)
        }
    };
    let _ = prog;
    quote!({ #borrow #call })
}

fn slice(base: TokenStream, r: &Region, stride: usize) -> TokenStream {
    if stride == 0 {
        let (start, end) = (u(r.offset), u(r.offset + r.len));
        quote!(&#base[#start..#end])
    } else {
        let (start, len) = (at(r.offset, stride), u(r.len));
        quote!(&#base[#start..][..#len])
    }
}
