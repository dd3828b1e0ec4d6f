use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// An observer or callback list that keeps its subscribers alive.
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
    pub struct StrongObserverList {
        code: "RL203",
        name: "strong-observer-list",
        summary: "An observer or callback list that keeps its subscribers alive",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
