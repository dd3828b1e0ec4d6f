use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// `del x` while the object is still referenced in the same scope.
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
    pub struct DelStillReferenced {
        code: "RL701",
        name: "del-still-referenced",
        summary: "`del x` while the object is still referenced in the same scope",
        fix: None,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
