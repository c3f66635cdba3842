//! Every kernel call, written once: which kernel function a step calls and its arguments, in
//! order. Three things derive from this one table, so that they cannot disagree:
//! `exec` calls the kernel on slices (`run`), code generation prints the call (`tokens`), and
//! `plan::check` runs the kernel's own argument check on the lengths the generated code will
//! pass (`check`). Each kernel's check function takes the kernel's arguments but the SIMD level,
//! with a thread count for the pool, lengths for slices and `WeightLens` for a block's weights.
//!
//! The arguments:
//! - `threads`, `cpu`: the thread pool and the SIMD level;
//! - `param p => printer`: a parameter struct, by reference (`codegen::params::printer` prints it);
//! - `value x => printer`: a parameter by value;
//! - `read i`: the step's `i`-th read region (after the one an in-place step writes);
//! - `opt (present) i`: the `i`-th read when `present`, else `None`;
//! - `weights i`: a fused block's six weight regions, reads `i` to `i + 5`;
//! - `out`, `scratch`: the region the step writes, and its scratch region;
//! - `bytes i`, `signed i`, `shorts i`, `ints i`: the `i`-th read viewed as u8, i8, i16 or i32
//!   (`mobilenet_kernels::arena`'s views; lengths in those units);
//! - `out_bytes`: the written region as bytes; `input_bytes`: the model's 8-bit input;
//! - `qweights i`: an 8-bit block's nine weight regions, reads `i` to `i + 8`.

use mobilenet_kernels::{self as k, Cpu, Threads};
use proc_macro2::TokenStream;
use quote::quote;

use super::{Kernel, Step};
use crate::codegen::params;

/// What `run` calls a kernel with: the step's memory, already borrowed.
pub(crate) struct RunArgs<'a> {
    pub threads: &'a Threads,
    pub cpu: Cpu,
    pub reads: Vec<&'a [f32]>,
    pub out: &'a mut [f32],
    pub scratch: &'a mut [f32],
    /// The model's input, for an 8-bit model (empty otherwise).
    pub input_bytes: &'a [u8],
}

/// What `tokens` prints a call with: the expression of each read.
pub(crate) struct CodeArgs {
    pub reads: Vec<TokenStream>,
}

/// What `check` checks a call with: the lengths generated code passes.
pub(crate) struct CheckArgs {
    pub threads: usize,
    pub reads: Vec<usize>,
    pub out: usize,
    pub scratch: usize,
    /// Bytes of the model's input (8-bit models).
    pub input_bytes: usize,
}

impl CheckArgs {
    fn read(&self, i: usize) -> Result<usize, &'static str> {
        self.reads.get(i).copied().ok_or("a read is missing")
    }
}

macro_rules! run_call {
    ($c:ident, $f:path, [$($acc:expr),*];) => { $f($($acc),*) };
    ($c:ident, $f:path, [$($acc:expr),*]; threads $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* $c.threads]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; cpu $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* $c.cpu]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; param $p:ident => $printer:ident $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* $p]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; value $v:expr => $printer:ident $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* $v]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; read $i:expr $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* $c.reads[$i]]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; opt ($present:expr) $i:expr $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* ($present).then(|| $c.reads[$i])]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; weights $i:expr $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* &k::fused::Weights {
            expand: $c.reads[$i],
            expand_bias: $c.reads[$i + 1],
            depthwise: $c.reads[$i + 2],
            depthwise_bias: $c.reads[$i + 3],
            project: $c.reads[$i + 4],
            project_bias: $c.reads[$i + 5],
        }]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; qweights $i:expr $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* &k::int8::fused::Weights {
            first_b: k::arena::signed($c.reads[$i]),
            first_consts: k::arena::ints($c.reads[$i + 1]),
            first_mult: $c.reads[$i + 2],
            dw: k::arena::shorts($c.reads[$i + 3]),
            dw_bias: k::arena::ints($c.reads[$i + 4]),
            dw_mult: $c.reads[$i + 5],
            project_b: k::arena::signed($c.reads[$i + 6]),
            project_consts: k::arena::ints($c.reads[$i + 7]),
            project_mult: $c.reads[$i + 8],
        }]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; bytes $i:expr $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* k::arena::bytes($c.reads[$i])]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; signed $i:expr $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* k::arena::signed($c.reads[$i])]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; shorts $i:expr $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* k::arena::shorts($c.reads[$i])]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; ints $i:expr $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* k::arena::ints($c.reads[$i])]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; out_bytes $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* k::arena::bytes_mut(&mut *$c.out)]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; input_bytes $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* $c.input_bytes]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; out $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* &mut *$c.out]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; scratch $(, $($rest:tt)*)?) => {
        run_call!($c, $f, [$($acc,)* &mut *$c.scratch]; $($($rest)*)?)
    };
}

macro_rules! code_args {
    ($c:ident, [$($acc:expr),*];) => { vec![$($acc),*] };
    ($c:ident, [$($acc:expr),*]; threads $(, $($rest:tt)*)?) => { code_args!($c, [$($acc,)* quote!(threads)]; $($($rest)*)?) };
    ($c:ident, [$($acc:expr),*]; cpu $(, $($rest:tt)*)?) => { code_args!($c, [$($acc,)* quote!(cpu)]; $($($rest)*)?) };
    ($c:ident, [$($acc:expr),*]; param $p:ident => $printer:ident $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* { let t = params::$printer($p); quote!(&#t) }]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; value $v:expr => $printer:ident $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* params::$printer($v)]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; read $i:expr $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* $c.reads[$i].clone()]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; opt ($present:expr) $i:expr $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* if $present { let r = &$c.reads[$i]; quote!(Some(#r)) } else { quote!(None) }]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; weights $i:expr $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* {
            let w = &$c.reads[$i..$i + 6];
            let (ew, eb, dw, db, pw, pb) = (&w[0], &w[1], &w[2], &w[3], &w[4], &w[5]);
            quote!(&rt::fused::Weights {
                expand: #ew, expand_bias: #eb, depthwise: #dw, depthwise_bias: #db, project: #pw, project_bias: #pb
            })
        }]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; qweights $i:expr $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* {
            let w = &$c.reads[$i..$i + 9];
            let (fb, fc, fm, dw, db, dm, pb, pc, pm) = (&w[0], &w[1], &w[2], &w[3], &w[4], &w[5], &w[6], &w[7], &w[8]);
            quote!(&rt::int8::fused::Weights {
                first_b: rt::arena::signed(#fb), first_consts: rt::arena::ints(#fc), first_mult: #fm,
                dw: rt::arena::shorts(#dw), dw_bias: rt::arena::ints(#db), dw_mult: #dm,
                project_b: rt::arena::signed(#pb), project_consts: rt::arena::ints(#pc), project_mult: #pm
            })
        }]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; bytes $i:expr $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* { let r = &$c.reads[$i]; quote!(rt::arena::bytes(#r)) }]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; signed $i:expr $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* { let r = &$c.reads[$i]; quote!(rt::arena::signed(#r)) }]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; shorts $i:expr $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* { let r = &$c.reads[$i]; quote!(rt::arena::shorts(#r)) }]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; ints $i:expr $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* { let r = &$c.reads[$i]; quote!(rt::arena::ints(#r)) }]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; out_bytes $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* quote!(rt::arena::bytes_mut(out))]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; input_bytes $(, $($rest:tt)*)?) => {
        code_args!($c, [$($acc,)* quote!(input)]; $($($rest)*)?)
    };
    ($c:ident, [$($acc:expr),*]; out $(, $($rest:tt)*)?) => { code_args!($c, [$($acc,)* quote!(out)]; $($($rest)*)?) };
    ($c:ident, [$($acc:expr),*]; scratch $(, $($rest:tt)*)?) => { code_args!($c, [$($acc,)* quote!(scratch)]; $($($rest)*)?) };
}

macro_rules! check_call {
    ($c:ident, $f:path, [$($acc:expr),*];) => { $f($($acc),*) };
    ($c:ident, $f:path, [$($acc:expr),*]; threads $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* $c.threads]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; cpu $(, $($rest:tt)*)?) => { check_call!($c, $f, [$($acc),*]; $($($rest)*)?) };
    ($c:ident, $f:path, [$($acc:expr),*]; param $p:ident => $printer:ident $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* $p]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; value $v:expr => $printer:ident $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* $v]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; read $i:expr $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* $c.read($i)?]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; opt ($present:expr) $i:expr $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* if $present { Some($c.read($i)?) } else { None }]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; weights $i:expr $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* &k::fused::WeightLens {
            expand: $c.read($i)?,
            expand_bias: $c.read($i + 1)?,
            depthwise: $c.read($i + 2)?,
            depthwise_bias: $c.read($i + 3)?,
            project: $c.read($i + 4)?,
            project_bias: $c.read($i + 5)?,
        }]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; qweights $i:expr $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* &k::int8::fused::WeightLens {
            first: [4 * $c.read($i)?, $c.read($i + 1)?, $c.read($i + 2)?],
            dw: [2 * $c.read($i + 3)?, $c.read($i + 4)?, $c.read($i + 5)?],
            project: [4 * $c.read($i + 6)?, $c.read($i + 7)?, $c.read($i + 8)?],
        }]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; bytes $i:expr $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* 4 * $c.read($i)?]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; signed $i:expr $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* 4 * $c.read($i)?]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; shorts $i:expr $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* 2 * $c.read($i)?]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; ints $i:expr $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* $c.read($i)?]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; out_bytes $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* 4 * $c.out]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; input_bytes $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* $c.input_bytes]; $($($rest)*)?)
    };
    ($c:ident, $f:path, [$($acc:expr),*]; out $(, $($rest:tt)*)?) => { check_call!($c, $f, [$($acc,)* $c.out]; $($($rest)*)?) };
    ($c:ident, $f:path, [$($acc:expr),*]; scratch $(, $($rest:tt)*)?) => {
        check_call!($c, $f, [$($acc,)* $c.scratch]; $($($rest)*)?)
    };
}

macro_rules! kernel_calls {
    (step $s:ident; $( $variant:pat $(if $guard:expr)? => ($($module:ident)::+) :: $kernel:ident / $check:ident ( $($args:tt)* ); )*) => {
        /// Calls the step's kernel on its memory.
        pub(crate) fn run($s: &Step, c: &mut RunArgs) {
            match &$s.kernel {
                $( $variant $(if $guard)? => run_call!(c, k::$($module::)+$kernel, []; $($args)*), )*
            }
        }

        /// The step's kernel call as generated code (`rt` is the runtime crate).
        pub(crate) fn tokens($s: &Step, c: &CodeArgs) -> TokenStream {
            match &$s.kernel {
                $( $variant $(if $guard)? => {
                    let args: Vec<TokenStream> = code_args!(c, []; $($args)*);
                    { let path: TokenStream = stringify!($($module::)+$kernel).replace(' ', "").parse().expect("a path"); quote!(rt::#path(#(#args),*);) }
                } )*
            }
        }

        /// The step's kernel's own check of the lengths the call passes.
        pub(crate) fn check($s: &Step, c: &CheckArgs) -> k::check::Check {
            match &$s.kernel {
                $( $variant $(if $guard)? => check_call!(c, k::$($module::)+$check, []; $($args)*), )*
            }
        }
    };
}

kernel_calls! {
    step s;
    Kernel::Gemm { p, bias, residual, .. } => (gemm)::gemm_parallel / check(
        threads, cpu, param p => gemm, read 0, read 1, opt (*bias) 2, opt (*residual) 2 + *bias as usize, out
    );
    Kernel::GatedGemm { p, images, residual } => (gemm)::gated_parallel / check_gated(
        threads, cpu, param p => gemm, value *images => lit, read 0, read 1, read 3, opt (true) 2, opt (*residual) 4, out,
        scratch
    );
    Kernel::Depthwise { p, residual } => (depthwise)::depthwise_parallel / check(
        threads, cpu, param p => depthwise, read 0, read 1, read 2, opt (*residual) 3, out
    );
    Kernel::Conv2d { p, residual } => (direct)::conv2d_parallel / check(
        threads, cpu, param p => conv2d, read 0, read 1, read 2, opt (*residual) 3, out
    );
    Kernel::Fused { p, residual } => (fused)::inverted_residual / check(
        threads, cpu, param p => inverted_residual, read 0, weights 1, opt (*residual) 7, out, scratch
    );
    Kernel::Pool2d(p) => (pool)::pool2d / check_pool2d(cpu, param p => pool2d, read 0, out);
    Kernel::GlobalAverage(p) => (pool)::global_average / check_global(cpu, param p => global_pool, read 0, out);
    Kernel::MeanRows { rows, len } => (pool)::mean_rows / check_mean_rows(
        cpu, value *rows => lit, value *len => lit, read 0, out
    );
    Kernel::Binary(p) if s.in_place => (elementwise)::binary_in_place / check_binary_in_place(
        cpu, param p => binary, out, read 0
    );
    Kernel::Binary(p) => (elementwise)::binary / check_binary(cpu, param p => binary, read 0, read 1, out);
    Kernel::Activation(a) if s.in_place => (elementwise)::activation_in_place / check_activation_in_place(
        cpu, value *a => act, out
    );
    Kernel::Activation(a) => (elementwise)::activation / check_activation(cpu, value *a => act, read 0, out);
    Kernel::Softmax(p) => (softmax)::softmax / check(cpu, param p => softmax, read 0, out);
    Kernel::Copy(p) => (layout)::copy / check_copy(cpu, param p => strided_copy, read 0, out);
    Kernel::Fill(v) => (layout)::fill / check_fill(out, value *v => float);
    Kernel::Load { len, flip } => (int8::convert)::load / check_load(
        value *len => lit, value *flip => flag, input_bytes, out_bytes
    );
    Kernel::Quantize(p) => (int8::convert)::quantize / check_quantize(cpu, param p => quantize, read 0, out_bytes);
    Kernel::Dequantize(p) => (int8::convert)::dequantize / check_dequantize(param p => dequantize, bytes 0, out);
    Kernel::Lookup { len } => (int8::convert)::lookup / check_lookup(cpu, value *len => lit, bytes 0, bytes 1, out_bytes);
    Kernel::CopyBytes(p) => (int8::convert)::copy_bytes / check_copy_bytes(param p => strided_copy, bytes 0, out_bytes);
    Kernel::QGemm(p) => (int8::gemm)::qgemm / check(
        threads, cpu, param p => qgemm, bytes 0, signed 1, ints 2, read 3, out_bytes
    );
    Kernel::QDepthwise(p) => (int8::depthwise)::qdepthwise / check(
        threads, cpu, param p => qdepthwise, bytes 0, shorts 1, ints 2, read 3, out_bytes
    );
    Kernel::QConv2d(p) => (int8::conv)::qconv2d / check(
        threads, cpu, param p => qconv2d, bytes 0, shorts 1, ints 2, read 3, out_bytes
    );
    Kernel::QConvGemm(p) => (int8::conv)::qconv_gemm / check_gemm(
        threads, cpu, param p => qconv_gemm, bytes 0, signed 1, ints 2, read 3, out_bytes
    );
    Kernel::QBlock(p) => (int8::fused)::qblock / check(
        threads, cpu, param p => qblock, bytes 0, qweights 1, out_bytes, scratch
    );
    Kernel::QPool(p) => (int8::pool)::qpool / check(cpu, param p => qpool, bytes 0, out_bytes);
    Kernel::QBinary(p) => (int8::elementwise)::qbinary / check(cpu, param p => qbinary, bytes 0, bytes 1, out_bytes);
}
