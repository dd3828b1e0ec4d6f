use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// A class keeps a resource in `self` but offers no `close()` or `__exit__`.
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
    pub struct ResourceOwnerWithoutClose {
        code: "RL402",
        name: "resource-owner-without-close",
        summary: "A class keeps a resource in `self` but offers no `close()` or `__exit__`",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
