use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// A class with `__slots__` but no `'__weakref__'` whose instances are weak-referenced.
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
    pub struct SlotsWithoutWeakref {
        code: "RL205",
        name: "slots-without-weakref",
        summary: "A class with `__slots__` but no `'__weakref__'` whose instances are weak-referenced",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
