//! Kernels the generated code calls. Filled by the code-generation issue.
#![no_std]
