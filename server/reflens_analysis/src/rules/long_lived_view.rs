use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// A small numpy or torch view of a large array kept long-term.
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
    pub struct LongLivedView {
        code: "RL602",
        name: "long-lived-view",
        summary: "A small numpy or torch view of a large array kept long-term",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
