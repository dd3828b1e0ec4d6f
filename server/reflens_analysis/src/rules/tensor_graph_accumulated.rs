use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// A tensor with autograd history accumulated across loop iterations.
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
    pub struct TensorGraphAccumulated {
        code: "RL601",
        name: "tensor-graph-accumulated",
        summary: "A tensor with autograd history accumulated across loop iterations",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
