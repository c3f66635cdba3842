//! One kernel call per step: borrow the regions (arena regions around the written one), then
//! call the kernel with its constant parameters.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::params;
use crate::lower::{Kernel, Loc, Program, Region, Step};
use crate::plan::Plan;

fn u(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

/// The code of one step.
pub fn step(prog: &Program, plan: &Plan, s: &Step) -> TokenStream {
    let skip = usize::from(s.in_place);
    let reads = &s.reads[skip..];
    let (wo, wl) = plan.arena_range(&s.write).expect("the plan checked that steps write to the arena");
    let arena_reads: Vec<(usize, usize)> = reads.iter().filter_map(|r| plan.arena_range(r)).collect();
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
            Loc::Input => slice(quote!(input), r),
            Loc::Weights => slice(quote!(w), r),
        });
    }
    let scratch = s.scratch.as_ref().and_then(|r| plan.arena_range(r));
    let borrow = if let Some((so, sl)) = scratch {
        let regions = arena_reads.iter().map(|&(o, l)| {
            let (o, l) = (u(o), u(l));
            quote!((#o, #l))
        });
        let (wo, wl, so, sl) = (u(wo), u(wl), u(so), u(sl));
        quote!(let ([#(#arena_names),*], out, scratch) = rt::arena::split2(arena, [#(#regions),*], (#wo, #wl), (#so, #sl));)
    } else if arena_reads.is_empty() {
        let (start, end) = (u(wo), u(wo + wl));
        quote!(let out = &mut arena[#start..#end];)
    } else {
        let regions = arena_reads.iter().map(|&(o, l)| {
            let (o, l) = (u(o), u(l));
            quote!((#o, #l))
        });
        let (wo, wl) = (u(wo), u(wl));
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
        Kernel::Gemm { p, bias, residual } => {
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

fn slice(base: TokenStream, r: &Region) -> TokenStream {
    let (start, end) = (u(r.offset), u(r.offset + r.len));
    quote!(&#base[#start..#end])
}
