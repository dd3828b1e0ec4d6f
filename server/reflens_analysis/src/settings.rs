//! The settings the analysis needs for one file, already resolved by the caller (the CLI and
//! the language server resolve them the same way, from `reflens_config`).

use crate::registry::RuleSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The rules to run on this file.
    pub rules: RuleSet,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rules: RuleSet::all(),
        }
    }
}

impl Settings {
    pub fn with_rules(rules: RuleSet) -> Self {
        Self { rules }
    }
}
