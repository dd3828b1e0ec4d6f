use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// `gc.disable()` not followed by `gc.enable()` on every path.
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
    pub struct GcNotReenabled {
        code: "RL204",
        name: "gc-not-reenabled",
        summary: "`gc.disable()` not followed by `gc.enable()` on every path",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
