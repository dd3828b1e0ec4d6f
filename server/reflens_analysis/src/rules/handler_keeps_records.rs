use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// A logging handler or filter that keeps `LogRecord`s and the exceptions in them.
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
    pub struct HandlerKeepsRecords {
        code: "RL303",
        name: "handler-keeps-records",
        summary: "A logging handler or filter that keeps `LogRecord`s and the exceptions in them",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
