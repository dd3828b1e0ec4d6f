use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// A module-level dict, list or set that functions only ever grow.
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
    pub struct UnboundedModuleCache {
        code: "RL102",
        name: "unbounded-module-cache",
        summary: "A module-level dict, list or set that functions only ever grow",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
