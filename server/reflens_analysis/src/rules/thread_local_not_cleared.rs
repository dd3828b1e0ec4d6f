use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// `threading.local()` attributes set and never cleared in pooled threads.
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
    pub struct ThreadLocalNotCleared {
        code: "RL501",
        name: "thread-local-not-cleared",
        summary: "`threading.local()` attributes set and never cleared in pooled threads",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
