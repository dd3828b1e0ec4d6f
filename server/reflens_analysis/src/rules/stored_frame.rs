use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// A frame object stored past its call or used as a cache key.
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
    pub struct StoredFrame {
        code: "RL304",
        name: "stored-frame",
        summary: "A frame object stored past its call or used as a cache key",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
