//! What each kernel requires of its arguments, written once: each kernel calls its check on
//! entry and panics on a violation, and the compiler calls the same checks with the lengths of
//! the regions generated code will pass (`plan::check`), so that a program whose call would
//! panic is refused at compile time instead.

/// `Err` names the violated requirement.
pub type Check = Result<(), &'static str>;

/// `ensure!(cond, "message")`: returns `Err("message")` unless `cond`.
macro_rules! ensure {
    ($cond:expr, $msg:expr) => {
        if !$cond {
            return Err($msg);
        }
    };
}
pub(crate) use ensure;

/// Panics with the violated requirement (a compiler bug: generated code passes lengths that
/// `plan::check` proved).
#[inline]
#[track_caller]
pub(crate) fn expect(c: Check) {
    if let Err(m) = c {
        panic!("{m}");
    }
}

/// `Some(len)` equal to `want`, or `None`.
pub(crate) fn opt_is(len: Option<usize>, want: usize) -> bool {
    len.is_none_or(|l| l == want)
}
