use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// TODO
    pub struct UnclosedResource {
        code: "RL401",
        name: "unclosed-resource",
        summary: "a resource bound to a local and not closed on every path",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
