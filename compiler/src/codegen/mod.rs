//! Code generation: a lowered, planned `Program` becomes Rust source (quote!) plus the packed
//! weight blob. The source is one model struct, a hidden module with the blob and a `forward`
//! function that is a straight list of kernel calls with constant parameters, and the public
//! API (`new`, `with_arena`, `run`, `run_slice`, shape constants). It knows the IR only through
//! the lowered program, and nothing of ONNX.

pub(crate) mod params;
mod steps;
pub mod text;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;

use crate::error::{Error, Result};
use crate::lower::{ElemType, Program};
use crate::plan::Plan;

/// Where the generated source finds the weight blob.
#[derive(Clone, Debug)]
pub enum Weights {
    /// `include_bytes!(<expr>)`: the blob is a file written beside the source (build.rs and
    /// `mobilenetc emit`). The expression is a string literal or `concat!(...)`.
    IncludeBytes(TokenStream),
    /// A byte-string literal in the source itself (the proc-macro).
    Inline,
}

#[derive(Clone, Debug)]
/// How to emit one model.
pub struct Options {
    /// Name of the generated struct.
    pub struct_name: String,
    /// Visibility of the struct and its API, as Rust tokens (`pub`, `pub(crate)`, or empty).
    pub visibility: TokenStream,
    /// Where the weight blob goes.
    pub weights: Weights,
    /// Emit a comment naming the ONNX nodes above every layer (for `to_source`).
    pub comments: bool,
    /// Files whose changes must rebuild the user's crate (the ONNX file, external data):
    /// mentioned through `include_bytes!` in an unused constant.
    pub track_files: Vec<String>,
    /// What to say about the source in the struct's documentation.
    pub description: String,
}

/// Generated code (the weight blob is `weight_bytes`, written beside it or inline).
#[derive(Clone, Debug)]
pub struct Generated {
    /// The generated items (the struct, its impl and the weight constant).
    pub tokens: TokenStream,
}

/// The blob as bytes: little-endian f32, whatever the host.
pub fn weight_bytes(prog: &Program) -> Vec<u8> {
    prog.weights.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn lit(v: usize) -> proc_macro2::Literal {
    proc_macro2::Literal::usize_unsuffixed(v)
}

/// The whole generated code as tokens (what the macro hands to rustc).
pub fn generate(prog: &Program, plan: &Plan, opts: &Options) -> Result<Generated> {
    let tokens = file_tokens(prog, plan, opts, true)?;
    Ok(Generated { tokens })
}

/// The generated code as a formatted source file, with `header` lines first. The file is
/// formatted around markers, and each layer on its own, so that memory stays in proportion to
/// the source (formatting the tokens of thousands of layers at once takes gigabytes).
pub fn source(prog: &Program, plan: &Plan, opts: &Options, header: &[String]) -> Result<String> {
    let skeleton = to_source(&file_tokens(prog, plan, opts, false)?, header)?;
    let looped = prog.image_loop.as_ref().map_or(0, |lp| lp.steps);
    let skeleton = fill_marker(&skeleton, LOOPED_MARKER, &mut (0..looped).map(|i| layer(prog, plan, opts, i, true)))?;
    fill_marker(&skeleton, STEPS_MARKER, &mut (looped..prog.steps.len()).map(|i| layer(prog, plan, opts, i, false)))
}

const LOOPED_MARKER: &str = "__looped_steps!();";
const STEPS_MARKER: &str = "__steps!();";

/// The code of step `i`, with a comment naming what it does and its ONNX nodes.
fn layer(prog: &Program, plan: &Plan, opts: &Options, i: usize, looped: bool) -> TokenStream {
    let s = &prog.steps[i];
    let mut code = TokenStream::new();
    if opts.comments {
        let mut text = format!("[{i}] {}", describe(s));
        if !s.origin.is_empty() {
            text += &format!(" (ONNX: {})", s.origin.join(", "));
        }
        code.extend(quote!(__comment!(#text);));
    }
    code.extend(steps::step(prog, plan, s, looped));
    code
}

/// Replaces the line holding `marker` by each layer, formatted on its own and indented as the
/// marker was.
fn fill_marker(text: &str, marker: &str, layers: &mut dyn Iterator<Item = TokenStream>) -> Result<String> {
    let Some(at) = text.find(marker) else { return Ok(text.to_string()) };
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..at];
    let after = text[at + marker.len()..].strip_prefix('\n').unwrap_or(&text[at + marker.len()..]);
    let mut out = String::with_capacity(text.len());
    out += &text[..line_start];
    for code in layers {
        let formatted = to_source(&quote!(fn __layer() { #code }), &[])?;
        // The body of `fn __layer() {..}`, four spaces in: each line moves to the marker's indent.
        let lines: Vec<&str> = formatted.lines().collect();
        for line in &lines[1..lines.len().saturating_sub(1)] {
            let line = line.strip_prefix("    ").unwrap_or(line);
            if line.is_empty() {
                out.push('\n');
            } else {
                out += indent;
                out += line;
                out.push('\n');
            }
        }
    }
    out += after;
    Ok(out)
}

/// The file's tokens; `steps`: with every layer in `forward`, or (to be formatted layer by
/// layer) with markers in their place.
fn file_tokens(prog: &Program, plan: &Plan, opts: &Options, steps: bool) -> Result<TokenStream> {
    let name = struct_ident(&opts.struct_name)?;
    let vis = &opts.visibility;
    let module = format_ident!("__mobilenet_{}", name.unraw());
    let weights_bytes = prog.weights.len() * 4;
    let weights_len = lit(weights_bytes);
    let blob = match &opts.weights {
        Weights::IncludeBytes(path) => quote!(*include_bytes!(#path)),
        Weights::Inline => {
            let l = proc_macro2::Literal::byte_string(&weight_bytes(prog));
            quote!(*#l)
        }
    };
    let tracked = opts.track_files.iter().map(|f| {
        quote!(
            const _: &[u8] = include_bytes!(#f);
        )
    });

    let looped = prog.image_loop.as_ref().map_or(0, |lp| lp.steps);
    let mut body: Vec<TokenStream> = Vec::new();
    if let Some(lp) = &prog.image_loop {
        let inner = if steps {
            (0..looped).map(|i| layer(prog, plan, opts, i, true)).collect()
        } else {
            quote!(__looped_steps!();)
        };
        let images = lit(lp.images);
        if opts.comments {
            let text = format!(
                "[0] to [{}] image by image: one image's tensors stay in cache from layer to layer",
                looped - 1
            );
            body.push(quote!(__comment!(#text);));
        }
        body.push(quote!(for image in 0..#images { #inner }));
    }
    if steps {
        body.extend((looped..prog.steps.len()).map(|i| layer(prog, plan, opts, i, false)));
    } else {
        body.push(quote!(__steps!();));
    }

    let (in_len, out_len) = (lit(prog.input_len()), lit(prog.output_len()));
    let arena_len = lit(plan.arena_len);
    let arena_bytes = lit(plan.arena_bytes());
    let naive_bytes = lit(plan.naive_bytes());
    let in_shape = prog.input_shape.iter().map(|&d| lit(d));
    let out_shape = prog.output_shape.iter().map(|&d| lit(d));
    let (in_rank, out_rank) = (lit(prog.input_shape.len()), lit(prog.output_shape.len()));
    let out_start = plan.arena_range(&prog.output).map(|(o, _)| o).unwrap_or(0);
    let (out_offset, out_end) = (lit(out_start), lit(out_start + prog.output_words()));
    let in_ty: TokenStream = prog.input_type.rust().parse().expect("a type name");
    let out_ty: TokenStream = prog.output_type.rust().parse().expect("a type name");
    // What `forward` reads: the caller's f32, or bytes.
    let (forward_input, pass_input) = match prog.input_type {
        ElemType::F32 => (quote!(&[f32]), quote!(input)),
        ElemType::U8 => (quote!(&[u8]), quote!(input)),
        ElemType::I8 => (quote!(&[u8]), quote!(::mobilenet_runtime::arena::i8_bytes(input))),
    };
    let output = match prog.output_type {
        ElemType::F32 => quote!(&arena[#out_offset..#out_end]),
        ElemType::U8 => quote!(&::mobilenet_runtime::arena::bytes(&arena[#out_offset..#out_end])[..#out_len]),
        ElemType::I8 => quote!(&::mobilenet_runtime::arena::signed(&arena[#out_offset..#out_end])[..#out_len]),
    };
    let (in_name, out_name) = (&prog.input_name, &prog.output_name);
    let batch = lit(prog.input_shape.first().copied().unwrap_or(1));
    let max_threads = lit(prog.max_threads);
    let doc_lines = [
        format!(" {}", opts.description),
        String::new(),
        format!(
            " Input `{in_name}`: {} {:?}, row-major, as the model declares it.",
            prog.input_type.rust(),
            prog.input_shape
        ),
        format!(" Output `{out_name}`: {} {:?}.", prog.output_type.rust(), prog.output_shape),
        format!(
            " Arena: {} bytes, allocated once; {} kernel calls; weights: {} bytes, embedded.",
            plan.arena_bytes(),
            prog.schedule().count(),
            weights_bytes
        ),
    ]
    .map(|line| text::comment_text(&line));
    let new_doc = wrap_doc(
        " A model with its own arena (allocated here, once) on the best SIMD path this CPU has (or the one `MOBILENET_SIMD` asks for).",
    );

    let copy_doc = wrap_doc(&format!(
        " Copies the weights ({} bytes) into memory of the model's own, on 2 MiB pages where Linux grants them, \
         and reads them from there: for a long-running process, steady-state inference can be a few per cent \
         faster, for about a millisecond per 5 MB of weights, once (`new()` reads them in place, which starts \
         in microseconds). \
         On Linux the embedded copy's pages are handed back once copied, so memory use grows only by the rounding \
         to whole 2 MiB pages. Calling it again does nothing; so does calling it for weights under 1 MiB.",
        weights_bytes
    ));
    let tokens = quote! {
        #(#[doc = #doc_lines])*
        #[allow(dead_code)]
        #vis struct #name<A: AsMut<[f32]> = ::mobilenet_runtime::Arena> {
            arena: A,
            cpu: ::mobilenet_runtime::Cpu,
            threads: ::mobilenet_runtime::Threads,
            weights: ::mobilenet_runtime::WeightMemory,
        }

        #[doc(hidden)]
        #[allow(non_snake_case, clippy::all, clippy::pedantic)]
        mod #module {
            use ::mobilenet_runtime as rt;
            #(#tracked)*

            static WEIGHTS: rt::weights::Aligned<[u8; #weights_len]> = rt::weights::Aligned(#blob);

            /// The weights as embedded in the binary.
            pub(super) fn embedded() -> &'static [f32] {
                rt::weights::as_f32(&WEIGHTS)
            }

            /// Runs every layer, reading `input` and the weights `w`, writing the arena.
            #[inline(never)]
            pub(super) fn forward(cpu: rt::Cpu, threads: &rt::Threads, w: &[f32], input: #forward_input, arena: &mut [f32]) {
                let _ = (w, input, threads);
                #(#body)*
            }
        }

        /// Shapes and sizes (also usable as `<Name>::INPUT_LEN` etc. from any arena type).
        #[allow(dead_code)]
        impl #name {
            /// Name of the ONNX input.
            #vis const INPUT_NAME: &'static str = #in_name;
            /// Shape of the input (row-major, as the ONNX file declares it, batch first).
            #vis const INPUT_SHAPE: [usize; #in_rank] = [#(#in_shape),*];
            /// Elements of the input.
            #vis const INPUT_LEN: usize = #in_len;
            /// Name of the ONNX output.
            #vis const OUTPUT_NAME: &'static str = #out_name;
            /// Shape of the output (row-major).
            #vis const OUTPUT_SHAPE: [usize; #out_rank] = [#(#out_shape),*];
            /// Elements of the output.
            #vis const OUTPUT_LEN: usize = #out_len;
            /// Images per run (the batch the model was compiled for).
            #vis const BATCH: usize = #batch;
            /// f32 elements of working memory (`with_arena` needs at least this many).
            #vis const ARENA_LEN: usize = #arena_len;
            /// Bytes of working memory.
            #vis const ARENA_BYTES: usize = #arena_bytes;
            /// What one buffer per intermediate tensor would need, for comparison.
            #vis const NAIVE_ARENA_BYTES: usize = #naive_bytes;
            /// Bytes of the embedded weights.
            #vis const WEIGHTS_BYTES: usize = #weights_len;
            /// Most threads `set_threads` accepts (chosen at compile time: the arena holds
            /// scratch memory for each).
            #vis const MAX_THREADS: usize = #max_threads;
        }

        #[allow(dead_code)]
        impl<A: AsMut<[f32]>> #name<A> {
            /// A model working in memory the caller provides (no allocation; works without
            /// `std` or `alloc`). The memory must hold at least `ARENA_LEN` f32.
            #vis fn with_arena(mut arena: A) -> Result<Self, ::mobilenet_runtime::Error> {
                let len = arena.as_mut().len();
                if len < #arena_len {
                    return Err(::mobilenet_runtime::Error::ArenaTooSmall { required: #arena_len, actual: len });
                }
                Ok(#name {
                    arena,
                    cpu: ::mobilenet_runtime::Cpu::detect(),
                    threads: ::mobilenet_runtime::Threads::single(),
                    weights: ::mobilenet_runtime::WeightMemory::embedded(),
                })
            }

            /// The SIMD path the kernels take.
            #vis fn cpu(&self) -> ::mobilenet_runtime::Cpu {
                self.cpu
            }

            /// Chooses the SIMD path (`Cpu::with_level` checks the CPU supports it).
            #vis fn set_cpu(&mut self, cpu: ::mobilenet_runtime::Cpu) {
                self.cpu = cpu;
            }

            /// Runs each layer on `n` threads (1 by default; at most `MAX_THREADS`, and 1
            /// without the `std` feature). The worker threads live as long as the model.
            #vis fn set_threads(&mut self, n: usize) -> Result<(), ::mobilenet_runtime::Error> {
                if n == 0 || n > #max_threads {
                    return Err(::mobilenet_runtime::Error::Threads { requested: n, max: #max_threads });
                }
                self.threads = ::mobilenet_runtime::Threads::new(n);
                Ok(())
            }

            /// Threads each layer runs on.
            #vis fn threads(&self) -> usize {
                self.threads.count()
            }

            /// For a process that runs a few inferences and exits: maps the embedded weights' pages
            /// on a short-lived helper thread, ahead of the layers, so that the first inference does
            /// not stop on their page faults (MobileNetV2: about 1 ms of its first run). Returns at
            /// once; does nothing after `copy_weights_to_huge_pages` or without the `std` feature.
            #vis fn map_weights_in_background(&self) {
                self.weights.map_in_background(#module::embedded());
            }

            /// Runs the model. No allocation; the result borrows the model's arena.
            #vis fn run(&mut self, input: &[#in_ty; #in_len]) -> &[#out_ty; #out_len] {
                let arena = &mut self.arena.as_mut()[..#arena_len];
                let w = self.weights.get(#module::embedded());
                #module::forward(self.cpu, &self.threads, w, #pass_input, arena);
                (#output).try_into().expect("the output region has OUTPUT_LEN elements")
            }

            /// Like `run`, for a slice, which must have `INPUT_LEN` elements.
            #vis fn run_slice(&mut self, input: &[#in_ty]) -> Result<&[#out_ty], ::mobilenet_runtime::Error> {
                let input: &[#in_ty; #in_len] = input.try_into().map_err(|_| ::mobilenet_runtime::Error::InputLength {
                    expected: #in_len,
                    actual: input.len(),
                })?;
                Ok(self.run(input))
            }
        }

        ::mobilenet_runtime::__if_alloc! {
            #[allow(dead_code)]
            impl #name {
                #(#[doc = #new_doc])*
                #vis fn new() -> Self {
                    #name {
                        arena: ::mobilenet_runtime::Arena::new(#arena_len),
                        cpu: ::mobilenet_runtime::Cpu::detect(),
                        threads: ::mobilenet_runtime::Threads::single(),
                        weights: ::mobilenet_runtime::WeightMemory::embedded(),
                    }
                }
            }

            #[allow(dead_code)]
            impl<A: AsMut<[f32]>> #name<A> {
                #(#[doc = #copy_doc])*
                #vis fn copy_weights_to_huge_pages(&mut self) {
                    self.weights.copy_to_huge_pages(#module::embedded());
                }
            }

            impl Default for #name {
                fn default() -> Self {
                    Self::new()
                }
            }
        }
    };
    Ok(tokens)
}

/// The struct's name as an identifier: any Rust identifier, raw ones (`r#Net`) included.
pub fn struct_ident(name: &str) -> Result<Ident> {
    let bad = || Error::usage(format!("'{}' is not a valid Rust type name", text::comment_text(name)));
    // syn's parser takes the whole of `name` or fails (a keyword, `r#self`, spaces, ...) without
    // panicking, unlike `Ident::new`.
    let ident = syn::parse_str::<Ident>(name).map_err(|_| bad())?;
    if ident.unraw() == "_" {
        return Err(bad());
    }
    Ok(ident)
}

/// One line about a step: what the kernel does, with its main sizes.
pub fn describe(s: &crate::lower::Step) -> String {
    use crate::lower::Kernel;
    let what = match &s.kernel {
        Kernel::Gemm { p, residual, .. } => {
            format!("gemm {}x{}x{}{}{}", p.m, p.k, p.n, if *residual { " +residual" } else { "" }, act_text(p.act))
        }
        Kernel::GatedGemm { p, images, residual } => format!(
            "gemm {}x{}x{} on input gated per channel ({} image{}){}{}",
            p.m,
            p.k,
            p.n,
            images,
            if *images == 1 { "" } else { "s" },
            if *residual { " +residual" } else { "" },
            act_text(p.act)
        ),
        Kernel::Depthwise { p, residual } => format!(
            "depthwise {}, {} channels, {}x{} -> {}x{}{}{}",
            window_text(&p.win),
            p.channels,
            p.in_h,
            p.in_w,
            p.out_h,
            p.out_w,
            if *residual { " +residual" } else { "" },
            act_text(p.act)
        ),
        Kernel::Conv2d { p, residual } => conv_text(p, *residual),
        Kernel::Fused { p, residual } => {
            format!(
                "block: {}depthwise {} ({} channels), project to {}, {}x{} -> {}x{}{}, {} rows at a time",
                match &p.stem {
                    _ if p.expand => format!("expand {} -> {}, ", p.in_c, p.hidden),
                    Some(c) => conv_text(c, false) + ", ",
                    None => String::new(),
                },
                window_text(&p.win),
                p.hidden,
                p.out_c,
                p.in_h,
                p.in_w,
                p.out_h,
                p.out_w,
                if *residual { " +residual" } else { "" },
                p.tile_rows
            ) + &if p.strip_w < p.out_w { format!(", in strips of {} columns", p.strip_w) } else { String::new() }
        }
        Kernel::Pool2d(p) => format!("pool {:?} {}", p.kind, window_text(&p.win)),
        Kernel::GlobalAverage(p) => format!("global average over {} pixels, {} channels", p.pixels, p.channels),
        Kernel::MeanRows { rows, len } => format!("mean of {rows} rows of {len}"),
        Kernel::Binary(b) => format!("{:?} (broadcast)", b.op),
        Kernel::Activation(a) => format!("activation{}", act_text(*a)),
        Kernel::Softmax(p) => format!("softmax over {}", p.len),
        Kernel::Copy(_) => "copy (layout)".into(),
        Kernel::Fill(v) => format!("fill {v}"),
        Kernel::Load { len, flip } => {
            format!("load {len} input bytes{}", if *flip { " (int8, stored as u8)" } else { "" })
        }
        Kernel::Quantize(p) => {
            let layout = if p.channels > 1 { format!(", {} planes interleaved", p.channels) } else { String::new() };
            format!("quantize {} values to u8 (scale {}, zero point {}{layout})", p.len, p.scale, p.zero_point)
        }
        Kernel::Dequantize(p) => format!("dequantize {} u8 (scale {}, zero point {})", p.len, p.scale, p.zero_point),
        Kernel::Lookup { len } => format!("8-bit table lookup of {len} bytes"),
        Kernel::CopyBytes(p) => format!("copy bytes {:?}", p.shape),
        Kernel::QGemm(p) => {
            format!("int8 gemm {}x{}x{}{}", p.m, p.k, p.n, if p.row_sums { " (weight zero points)" } else { "" })
        }
        Kernel::QDepthwise(p) => format!(
            "int8 depthwise {}, {} channels, {}x{} -> {}x{}",
            window_text(&p.win),
            p.channels,
            p.in_h,
            p.in_w,
            p.out_h,
            p.out_w
        ),
        Kernel::QConv2d(p) => format!(
            "int8 conv {}, {} -> {} channels{}, {}x{} -> {}x{}",
            window_text(&p.win),
            p.in_c,
            p.out_c,
            if p.groups > 1 { format!(" in {} groups", p.groups) } else { String::new() },
            p.in_h,
            p.in_w,
            p.out_h,
            p.out_w
        ),
        Kernel::QConvGemm(p) => format!(
            "int8 conv {} as gemm, {} -> {} channels, {}x{} -> {}x{}",
            window_text(&p.win),
            p.in_c,
            p.out_c,
            p.in_h,
            p.in_w,
            p.out_h,
            p.out_w
        ),
        Kernel::QBlock(p) => format!(
            "int8 block: {}depthwise {} ({} channels), project to {}, {}x{} -> {}x{}",
            match p.first {
                mobilenet_kernels::int8::fused::First::None => String::new(),
                mobilenet_kernels::int8::fused::First::Expand(e) => format!("expand {} -> {}, ", e.k, e.n),
                mobilenet_kernels::int8::fused::First::Stem(c) => {
                    format!("conv {} {} -> {}, ", window_text(&c.win), c.in_c, c.out_c)
                }
            },
            window_text(&p.dw.win),
            p.dw.channels,
            p.project.n,
            p.in_h,
            p.in_w,
            p.dw.out_h,
            p.dw.out_w
        ),
        Kernel::QPool(p) => match p.win {
            Some(w) => format!("int8 average pool {}, {} channels", window_text(&w), p.channels),
            None => format!("int8 global average, {} channels, {}x{}", p.channels, p.in_h, p.in_w),
        },
        Kernel::QBinary(p) => match p.op {
            mobilenet_kernels::int8::elementwise::QBinOp::Add(_) => format!("int8 add {:?}", p.shape),
            mobilenet_kernels::int8::elementwise::QBinOp::Mul { .. } => format!("int8 mul {:?}", p.shape),
        },
    };
    if s.in_place { format!("{what}, in place") } else { what }
}

fn conv_text(p: &mobilenet_kernels::direct::Conv2d, residual: bool) -> String {
    format!(
        "conv {}, {} -> {} channels, {}x{} -> {}x{}{}{}",
        window_text(&p.win),
        p.in_c,
        p.out_c,
        p.in_h,
        p.in_w,
        p.out_h,
        p.out_w,
        if residual { " +residual" } else { "" },
        act_text(p.act)
    )
}

fn window_text(w: &mobilenet_kernels::Window) -> String {
    format!("{}x{} stride {}x{}", w.kernel_h, w.kernel_w, w.stride_h, w.stride_w)
}

fn act_text(a: mobilenet_kernels::Act) -> String {
    match a {
        mobilenet_kernels::Act::None => String::new(),
        other => format!(", {other:?}"),
    }
}

/// Splits a documentation paragraph into lines of at most about 90 characters (each with the
/// leading space a `///` comment has), so that the generated source stays readable.
fn wrap_doc(text: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if line.len() + word.len() + 1 > 90 && !line.is_empty() {
            lines.push(String::new());
        }
        let line = lines.last_mut().expect("one line at least");
        line.push(' ');
        line.push_str(word);
    }
    lines
}

/// Formats generated tokens as a source file (prettyplease), turning the comment markers into
/// `//` comments and prefixing `header` lines.
pub fn to_source(tokens: &TokenStream, header: &[String]) -> Result<String> {
    let parse = |tokens: TokenStream| -> Result<syn::File> {
        syn::parse2(tokens).map_err(|e| Error::internal(format!("generated code does not parse: {e}")))
    };
    let mut file = parse(tokens.clone())?;
    // prettyplease leaves macro bodies as one run of tokens: format the items inside the
    // runtime's `__if_alloc!` blocks on their own and put them back in place of a marker.
    let mut bodies = Vec::new();
    for item in &mut file.items {
        if let syn::Item::Macro(m) = item
            && m.mac.path.segments.last().is_some_and(|s| s.ident == "__if_alloc")
        {
            let body = prettyplease::unparse(&parse(m.mac.tokens.clone())?);
            let marker = quote::format_ident!("__formatted_body_{}", bodies.len());
            m.mac.tokens = quote!(#marker);
            bodies.push((marker.to_string(), body));
        }
    }
    let mut text = prettyplease::unparse(&file);
    for (marker, body) in bodies {
        let at = text.find(&marker).ok_or_else(|| Error::internal("formatted macro body lost"))?;
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        let indented: String =
            body.lines().map(|l| if l.is_empty() { "\n".to_string() } else { format!("    {l}\n") }).collect();
        text.replace_range(line_start..line_end, indented.trim_end_matches('\n'));
    }
    let mut out = String::with_capacity(text.len() + 256);
    for line in header {
        out += &format!("// {}\n", text::comment_text(line));
    }
    out += &replace_comment_markers(&text)?;
    Ok(out)
}

/// `__comment!("text");` (which prettyplease may spread over several lines) -> `// text`.
fn replace_comment_markers(text: &str) -> Result<String> {
    const MARKER: &str = "__comment!(";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARKER) {
        let line_start = rest[..at].rfind('\n').map_or(0, |i| i + 1);
        let indent = &rest[line_start..at];
        out += &rest[..line_start];
        let after = &rest[at + MARKER.len()..];
        let end = after.find(");").ok_or_else(|| Error::internal("unterminated comment marker"))?;
        // The literal may itself contain ");" only inside quotes; find the closing quote first.
        let lit_start = after.find('"').ok_or_else(|| Error::internal("comment marker without text"))?;
        let mut i = lit_start + 1;
        let bytes = after.as_bytes();
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let close = after[i..].find(");").map(|j| i + j).unwrap_or(end);
        let lit = &after[lit_start..=i.min(after.len() - 1)];
        let value = syn::parse_str::<syn::LitStr>(lit).map(|s| s.value()).unwrap_or_else(|_| lit.to_string());
        out += &format!("{indent}// {}\n", text::comment_text(&value));
        rest = &after[close + 2..];
        rest = rest.strip_prefix('\n').unwrap_or(rest);
    }
    out += rest;
    Ok(out)
}
