use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// A child that keeps a strong reference back to the parent that holds it.
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
    pub struct BackReferenceCycle {
        code: "RL202",
        name: "back-reference-cycle",
        summary: "A child that keeps a strong reference back to the parent that holds it",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
