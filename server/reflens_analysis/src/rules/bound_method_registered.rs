use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// A bound method or `self`-capturing lambda registered with a long-lived registry.
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
    pub struct BoundMethodRegistered {
        code: "RL502",
        name: "bound-method-registered",
        summary: "A bound method or `self`-capturing lambda registered with a long-lived registry",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
