//! One kernel call per step: borrow the regions (arena regions around the written one), then
//! call the kernel with its constant parameters. Inside the image loop, regions that hold
//! every image are found `image * stride` further on.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::lower::call::{self, CodeArgs};
use crate::lower::{Loc, Program, Region, Step};
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
    let call = call::tokens(s, &CodeArgs { reads: read_exprs });
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
