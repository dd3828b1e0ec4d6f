use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// TODO
    pub struct DelFinalizer {
        code: "RL201",
        name: "del-finalizer",
        summary: "a class that defines `__del__`",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
