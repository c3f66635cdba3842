//! `mobilenet_model!`. Filled by the code-generation issue.
