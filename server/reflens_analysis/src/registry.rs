//! The rule catalog: codes, names, docs, and selection by code, prefix or name.
//!
//! Each rule lives in its own file under `rules/` and declares itself with [`declare_rule!`];
//! its doc comment is its documentation (`reflens rule RL101`, `docs/rules/RL101.md`).
//! Adding a rule: write `rules/<name>.rs` (with its `TRIGGERS`, see `triggers`), add one line to the `rule_table!` below, add a
//! fixture under `tests/fixtures/`, and run `REFLENS_UPDATE_DOCS=1 cargo test -p reflens_analysis`.

use std::fmt;
use std::str::FromStr;

use crate::checker::Checker;

/// Whether a rule can offer an automatic fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixAvailability {
    None,
    Sometimes,
    Always,
}

impl FixAvailability {
    pub fn describe(self) -> &'static str {
        match self {
            FixAvailability::None => "No automatic fix.",
            FixAvailability::Sometimes => "A fix is sometimes available.",
            FixAvailability::Always => "A fix is always available.",
        }
    }
}

/// What every rule declares about itself.
pub trait RuleMeta {
    const CODE: &'static str;
    const NAME: &'static str;
    /// One line: what it finds.
    const SUMMARY: &'static str;
    const FIX: FixAvailability;
    /// The raw doc comment (each line keeps the space after `///`).
    const DOC: &'static str;
}

/// Declares a rule's metadata next to its doc comment, so the two cannot drift apart.
#[macro_export]
macro_rules! declare_rule {
    (
        $(#[doc = $doc:literal])+
        pub struct $name:ident {
            code: $code:literal,
            name: $slug:literal,
            summary: $summary:literal,
            fix: $fix:ident $(,)?
        }
    ) => {
        $(#[doc = $doc])+
        pub struct $name;

        impl $crate::registry::RuleMeta for $name {
            const CODE: &'static str = $code;
            const NAME: &'static str = $slug;
            const SUMMARY: &'static str = $summary;
            const FIX: $crate::registry::FixAvailability = $crate::registry::FixAvailability::$fix;
            const DOC: &'static str = concat!($($doc, "\n"),+);
        }
    };
}

macro_rules! rule_table {
    ($($variant:ident => $module:ident),* $(,)?) => {
        /// A rule of the catalog.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Rule {
            $($variant),*
        }

        impl Rule {
            /// Every rule, in code order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            pub fn code(self) -> &'static str {
                match self {
                    $(Rule::$variant => <crate::rules::$module::$variant as RuleMeta>::CODE),*
                }
            }

            /// The kebab-case name, e.g. `method-cache`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Rule::$variant => <crate::rules::$module::$variant as RuleMeta>::NAME),*
                }
            }

            pub fn summary(self) -> &'static str {
                match self {
                    $(Rule::$variant => <crate::rules::$module::$variant as RuleMeta>::SUMMARY),*
                }
            }

            pub fn fix_availability(self) -> FixAvailability {
                match self {
                    $(Rule::$variant => <crate::rules::$module::$variant as RuleMeta>::FIX),*
                }
            }

            fn raw_doc(self) -> &'static str {
                match self {
                    $(Rule::$variant => <crate::rules::$module::$variant as RuleMeta>::DOC),*
                }
            }

            /// The rule's source file, relative to the analysis crate (for docs and tests).
            pub fn source_file(self) -> &'static str {
                match self {
                    $(Rule::$variant => concat!("src/rules/", stringify!($module), ".rs")),*
                }
            }

            /// The words whose absence from a file proves the rule has nothing to find there.
            pub(crate) fn triggers(self) -> crate::triggers::Triggers {
                match self {
                    $(Rule::$variant => crate::rules::$module::TRIGGERS),*
                }
            }

            pub(crate) fn check(self, checker: &mut Checker) {
                match self {
                    $(Rule::$variant => crate::rules::$module::check(checker)),*
                }
            }
        }
    };
}

rule_table! {
    MethodCache => method_cache,
    UnboundedModuleCache => unbounded_module_cache,
    InstanceRegistry => instance_registry,
    MutableDefaultCache => mutable_default_cache,
    DelFinalizer => del_finalizer,
    BackReferenceCycle => back_reference_cycle,
    StrongObserverList => strong_observer_list,
    GcNotReenabled => gc_not_reenabled,
    SlotsWithoutWeakref => slots_without_weakref,
    UncheckedWeakref => unchecked_weakref,
    StoredException => stored_exception,
    ExcInfoLocal => exc_info_local,
    HandlerKeepsRecords => handler_keeps_records,
    StoredFrame => stored_frame,
    StoredSuspendedFrame => stored_suspended_frame,
    UnclosedResource => unclosed_resource,
    ResourceOwnerWithoutClose => resource_owner_without_close,
    ThreadLocalNotCleared => thread_local_not_cleared,
    BoundMethodRegistered => bound_method_registered,
    TensorGraphAccumulated => tensor_graph_accumulated,
    LongLivedView => long_lived_view,
    DelStillReferenced => del_still_referenced,
}

impl Rule {
    /// The doc comment as Markdown, with the leading space of each `///` line removed.
    pub fn doc(self) -> String {
        let mut out = String::new();
        for line in self.raw_doc().lines() {
            out.push_str(line.strip_prefix(' ').unwrap_or(line));
            out.push('\n');
        }
        out
    }

    /// The rule's documentation page, exactly as `docs/rules/<code>.md` holds it.
    pub fn docs_page(self) -> String {
        format!(
            "# {code} `{name}`\n\n{summary}\n\n*{fix}*\n\n{doc}",
            code = self.code(),
            name = self.name(),
            summary = self.summary(),
            fix = self.fix_availability().describe(),
            doc = self.doc(),
        )
    }

    /// Where users read about the rule.
    pub fn url(self) -> String {
        format!("{DOCS_BASE_URL}{}.md", self.code())
    }

    pub fn from_code(code: &str) -> Option<Rule> {
        Rule::ALL
            .iter()
            .copied()
            .find(|rule| rule.code().eq_ignore_ascii_case(code))
    }

    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|rule| rule.name() == name)
    }
}

/// Base of the docs links carried by every diagnostic (LSP `codeDescription`, JSON `url`).
pub const DOCS_BASE_URL: &str = "https://github.com/reflens/reflens/blob/main/docs/rules/";

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A set of rules, as a bit set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RuleSet(u128);

impl RuleSet {
    pub const fn empty() -> Self {
        RuleSet(0)
    }

    pub fn all() -> Self {
        Rule::ALL.iter().copied().collect()
    }

    pub fn contains(self, rule: Rule) -> bool {
        self.0 & (1 << rule as u8) != 0
    }

    pub fn insert(&mut self, rule: Rule) {
        self.0 |= 1 << rule as u8;
    }

    pub fn remove(&mut self, rule: Rule) {
        self.0 &= !(1 << rule as u8);
    }

    pub fn union(self, other: RuleSet) -> RuleSet {
        RuleSet(self.0 | other.0)
    }

    pub fn difference(self, other: RuleSet) -> RuleSet {
        RuleSet(self.0 & !other.0)
    }

    pub fn intersect(self, other: RuleSet) -> RuleSet {
        RuleSet(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Rule> {
        Rule::ALL
            .iter()
            .copied()
            .filter(move |rule| self.contains(*rule))
    }
}

impl FromIterator<Rule> for RuleSet {
    fn from_iter<T: IntoIterator<Item = Rule>>(iter: T) -> Self {
        let mut set = RuleSet::empty();
        for rule in iter {
            set.insert(rule);
        }
        set
    }
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Rule::code)).finish()
    }
}

/// What a user writes in `select`, `ignore` and `per-file-ignores`: `ALL`, a code (`RL101`),
/// a code prefix (`RL1`, `RL`), or a rule name (`method-cache`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleSelector {
    text: String,
    rules: RuleSet,
}

impl RuleSelector {
    pub fn rules(&self) -> RuleSet {
        self.rules
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSelector(pub String);

impl fmt::Display for UnknownSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown rule selector `{}`: expected `ALL`, a rule code such as `RL101`, a code prefix such as `RL1`, or a rule name such as `method-cache`",
            self.0
        )
    }
}

impl std::error::Error for UnknownSelector {}

impl FromStr for RuleSelector {
    type Err = UnknownSelector;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let rules: RuleSet = if trimmed.eq_ignore_ascii_case("ALL") {
            RuleSet::all()
        } else if let Some(rule) = Rule::from_name(trimmed) {
            [rule].into_iter().collect()
        } else {
            let upper = trimmed.to_ascii_uppercase();
            Rule::ALL
                .iter()
                .copied()
                .filter(|rule| upper.len() >= 2 && rule.code().starts_with(&upper))
                .collect()
        };
        if rules.is_empty() {
            return Err(UnknownSelector(trimmed.to_owned()));
        }
        Ok(RuleSelector {
            text: trimmed.to_owned(),
            rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for rule in Rule::ALL {
            assert!(seen.insert(rule.code()), "duplicate code {}", rule.code());
            assert!(rule.code().starts_with("RL") && rule.code().len() == 5);
            assert!(
                rule.name()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-')
            );
            assert_eq!(Rule::from_code(rule.code()), Some(*rule));
            assert_eq!(Rule::from_name(rule.name()), Some(*rule));
        }
    }

    #[test]
    fn selectors() {
        let sel: RuleSelector = "RL1".parse().unwrap();
        assert!(sel.rules().contains(Rule::MethodCache));
        assert!(!sel.rules().contains(Rule::DelFinalizer));
        assert_eq!(
            "ALL".parse::<RuleSelector>().unwrap().rules(),
            RuleSet::all()
        );
        assert!(
            "method-cache"
                .parse::<RuleSelector>()
                .unwrap()
                .rules()
                .contains(Rule::MethodCache)
        );
        assert!("RL999".parse::<RuleSelector>().is_err());
        assert!("R".parse::<RuleSelector>().is_err());
    }
}
