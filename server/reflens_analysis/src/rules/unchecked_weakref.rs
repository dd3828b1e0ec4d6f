use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// The result of calling a weak reference used without a `None` check.
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
    pub struct UncheckedWeakref {
        code: "RL206",
        name: "unchecked-weakref",
        summary: "The result of calling a weak reference used without a `None` check",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
