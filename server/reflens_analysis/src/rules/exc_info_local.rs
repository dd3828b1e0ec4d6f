use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// `sys.exc_info()` or a traceback bound to a local without `del` in `finally`.
    ///
    /// ## Why it keeps memory alive
    /// (Being written.)
    ///
    /// ## Example
    /// ```python
    /// pass
    /// ```
    ///
    /// ## Fix
    /// (Being written.)
    ///
    /// ## Fix safety
    /// (Being written.)
    pub struct ExcInfoLocal {
        code: "RL302",
        name: "exc-info-local",
        summary: "`sys.exc_info()` or a traceback bound to a local without `del` in `finally`",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
