use crate::checker::Checker;
use crate::declare_rule;

declare_rule! {
    /// ## What it finds
    /// TODO
    pub struct StoredException {
        code: "RL301",
        name: "stored-exception",
        summary: "an exception or traceback stored past its `except` block keeps every frame of the traceback alive",
        fix: Sometimes,
    }
}

pub(crate) fn check(_checker: &mut Checker) {}
