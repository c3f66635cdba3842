//! Batch > 1, image by image where that keeps data in cache. Run layer by layer, a batch of 8
//! moves 8 images' tensors through each layer: the first layers' tensors (1.6 MB per image
//! after MobileNetV2's first conv) then no longer fit in any cache, and every layer reads its
//! input back from memory. Run image by image, each image's tensors stay in cache from one
//! layer to the next, as at batch 1. Later layers have small tensors and large weights; there
//! the batch shares one pass over the weights, so they run once for the whole batch.
//!
//! The loop covers the longest run of first steps that compute each image on its own (kernels
//! with a batch or per-image rows, elementwise on whole buffers), move more than `cache_bytes`
//! of activations for the whole batch, and have no more weights than one image's activations
//! (a step runs its weights through the cache once per image in the loop; MobileNetV1's 7x7
//! layers, 1 MB of weights for 0.4 MB of activations, are faster once for the batch). Buffers
//! used only inside the loop hold one image; the input and the buffers the loop hands on hold
//! all images, image `i` at `i * stride` (`ImageLoop::strided`).

use std::collections::HashSet;

use super::{ImageLoop, Kernel, Loc, Program, Region};

/// Activations a layer may move for the whole batch before it runs image by image: a core's
/// L2 on current x86 server parts (1-2 MiB).
pub const CACHE_BYTES: usize = 1 << 20;

/// Puts the program's first steps in an image loop where they qualify (see the module).
pub fn apply(prog: &mut Program, cache_bytes: usize) {
    let images = prog.input_shape.first().copied().unwrap_or(1);
    if images < 2 || prog.image_loop.is_some() {
        // (applied once: the loop's steps compute one image)
        return;
    }
    let whole = |r: &Region| match r.loc {
        Loc::Weights => true,
        Loc::Input => r.offset == 0 && r.len == prog.input_len() && r.len.is_multiple_of(images),
        Loc::Arena(b) => r.offset == 0 && r.len == prog.buffers[b].len && r.len.is_multiple_of(images),
    };
    let steps = prog
        .steps
        .iter()
        .take_while(|s| {
            let data: Vec<&Region> = s.reads.iter().chain([&s.write]).filter(|r| r.loc != Loc::Weights).collect();
            let bytes: usize = data.iter().map(|r| r.len * 4).sum();
            let weight_bytes: usize = s.reads.iter().filter(|r| r.loc == Loc::Weights).map(|r| r.len * 4).sum();
            !s.in_place
                && bytes > cache_bytes
                && weight_bytes <= bytes / images
                && data.iter().all(|r| whole(r))
                && one_image(s, images).is_some()
        })
        .count();
    if steps == 0 {
        return;
    }
    // Buffers the steps after the loop read (or the caller does) hold every image.
    let mut handed_on: HashSet<usize> =
        prog.steps[steps..].iter().flat_map(|s| s.reads.iter()).filter_map(|r| arena(r.loc)).collect();
    handed_on.extend(arena(prog.output.loc));
    let mut strided = vec![(Loc::Input, prog.input_len() / images)];
    let mut written = Vec::new();
    for s in &mut prog.steps[..steps] {
        s.kernel = one_image(s, images).expect("checked above");
        for r in s.reads.iter_mut().chain([&mut s.write]).filter(|r| r.loc != Loc::Weights) {
            r.len /= images;
        }
        written.extend(arena(s.write.loc));
    }
    written.sort_unstable();
    written.dedup();
    for b in written {
        let per_image = prog.buffers[b].len / images;
        if handed_on.contains(&b) {
            strided.push((Loc::Arena(b), per_image));
        } else {
            prog.buffers[b].len = per_image;
        }
    }
    prog.image_loop = Some(ImageLoop { steps, images, strided });
}

fn arena(loc: Loc) -> Option<usize> {
    match loc {
        Loc::Arena(b) => Some(b),
        _ => None,
    }
}

/// The kernel of `s` for one image of `images`, if it computes each image on its own.
fn one_image(s: &super::Step, images: usize) -> Option<Kernel> {
    let mut k = s.kernel.clone();
    match &mut k {
        Kernel::Conv2d { p, .. } if p.batch == images => p.batch = 1,
        Kernel::Depthwise { p, .. } if p.batch == images => p.batch = 1,
        Kernel::Fused { p, .. } if p.batch == images => {
            p.batch = 1;
            if let Some(stem) = &mut p.stem {
                stem.batch = 1;
            }
        }
        Kernel::Pool2d(p) if p.batch == images => p.batch = 1,
        Kernel::GlobalAverage(p) if p.batch == images => p.batch = 1,
        Kernel::Gemm { p, images: n, .. }
            if *n == images && p.m.is_multiple_of(images) && s.reads[1].loc == Loc::Weights =>
        {
            p.m /= images;
            *n = 1;
        }
        Kernel::GatedGemm { p, images: n, .. } if *n == images && p.m.is_multiple_of(images) => {
            p.m /= images;
            *n = 1;
        }
        // Elementwise over whole buffers: any split into equal runs computes the same.
        Kernel::Activation(_) => {}
        _ => return None,
    }
    Some(k)
}
