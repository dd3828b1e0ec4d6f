use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// A generator or closure stored on a long-lived object keeps a large frame alive.
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
    pub struct StoredSuspendedFrame {
        code: "RL305",
        name: "stored-suspended-frame",
        summary: "A generator or closure stored on a long-lived object keeps a large frame alive",
        fix: None,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
