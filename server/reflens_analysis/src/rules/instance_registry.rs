use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// TODO
    pub struct InstanceRegistry {
        code: "RL103",
        name: "instance-registry",
        summary: "`self` added to a module- or class-level container keeps every instance alive",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
