use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// TODO
    pub struct MutableDefaultCache {
        code: "RL104",
        name: "mutable-default-cache",
        summary: "a mutable default argument that the function grows keeps everything added to it alive",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
