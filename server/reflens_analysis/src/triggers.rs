//! Words whose absence from a file proves that a rule has nothing to find in it.
//!
//! Most leak patterns need a particular name to appear: a `__del__`, an `atexit` import, a
//! `gc.disable()`. A few passes over the text (packed Aho-Corasick automata for the rarer words,
//! `memmem` for the common ones) find which of every rule's words occur, and a rule none of whose
//! words occur is not run on that file. This is
//! what keeps the whole catalog about as cheap as parsing: a rule's walks run only on the files
//! that could hold its pattern.
//!
//! A rule declares its words as `pub(crate) const TRIGGERS: Triggers` in its own file. The
//! words must be sound: if a file can produce a finding of the rule, one of them must occur in
//! its text (an import alias still spells the module's name; a builtin has no import, so its
//! own name is the word). Substring matches are fine (the word may occur in a comment or a
//! longer name): a false "present" costs only time.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, Input, MatchKind};

use crate::registry::{Rule, RuleSet};

/// When a rule needs to run on a file.
#[derive(Debug, Clone, Copy)]
pub enum Triggers {
    /// On every file: the pattern has no word of its own.
    Always,
    /// Only on files whose text contains at least one of these words.
    AnyOf(&'static [&'static str]),
}

/// Words found in many Python files (each in more than 7% of the standard library's). They are
/// searched one by one, and only while a rule they trigger has not been triggered yet: in one
/// automaton with the other words they would be reported all over every file, and the
/// automaton's fast (SIMD) search would keep stopping at them.
const COMMON_WORDS: &[&str] = &[
    "except",
    "open",
    "del ",
    "close",
    "next",
    ".pop",
    "cache",
    "stop",
    ".clear(",
    "send",
    "stack",
    "disable",
    "socket",
    "threading",
    "connect",
    "weak",
    "release",
];

/// What a word found in a file triggers: its own rules and those of every word it contains (a
/// match of the longer word is a match of the shorter ones too), and whether it is (or
/// contains) one of the workspace's fact words.
#[derive(Debug, Clone, Copy)]
struct Triggering {
    rules: RuleSet,
    facts: bool,
}

struct TriggerIndex {
    /// The words not in [`COMMON_WORDS`], in groups of at most [`GROUP_SIZE`].
    rare: Vec<RareGroup>,
    /// The common words, each with its searcher.
    common: Vec<(memchr::memmem::Finder<'static>, Triggering)>,
    /// The rules that run on every file.
    always: RuleSet,
}

/// The most words one automaton searches for. Past 16 words the packed (SIMD) searcher switches
/// to a variant ("fat" Teddy) that reads half as many bytes per step: on the standard library, three
/// automata of 12 words each search the text in half the time of one automaton of all 36.
const GROUP_SIZE: usize = 16;

/// One automaton over some of the rare words.
struct RareGroup {
    automaton: AhoCorasick,
    /// What each of its words triggers, by pattern id.
    words: Vec<Triggering>,
    /// Everything its words can trigger.
    any: Triggering,
}

/// What the trigger pass found in a file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Triggered {
    /// The rules that can have findings in it.
    pub rules: RuleSet,
    /// Whether the file can contribute workspace facts (one of `workspace::FACT_WORDS`).
    pub facts: bool,
}

static INDEX: LazyLock<TriggerIndex> = LazyLock::new(|| {
    let mut words: Vec<&'static str> = Vec::new();
    let mut rules_of_word: Vec<RuleSet> = Vec::new();
    let mut always = RuleSet::empty();
    for &rule in Rule::ALL {
        match rule.triggers() {
            Triggers::Always => always.insert(rule),
            Triggers::AnyOf(list) => {
                for word in list {
                    match words.iter().position(|w| w == word) {
                        Some(i) => rules_of_word[i].insert(rule),
                        None => {
                            words.push(word);
                            let mut set = RuleSet::empty();
                            set.insert(rule);
                            rules_of_word.push(set);
                        }
                    }
                }
            }
        }
    }
    for word in crate::workspace::FACT_WORDS {
        if !words.contains(word) {
            words.push(word);
            rules_of_word.push(RuleSet::empty());
        }
    }
    let triggering = |word: &str| Triggering {
        rules: words
            .iter()
            .zip(&rules_of_word)
            .filter(|(inner, _)| word.contains(*inner))
            .fold(RuleSet::empty(), |set, (_, rules)| set.union(*rules)),
        facts: crate::workspace::FACT_WORDS
            .iter()
            .any(|fact| word.contains(fact)),
    };
    let (common, rare): (Vec<&str>, Vec<&str>) =
        words.iter().partition(|word| COMMON_WORDS.contains(word));
    // Groups of equal size, each at most GROUP_SIZE words.
    let groups = rare.len().div_ceil(GROUP_SIZE).max(1);
    let rare = rare
        .chunks(rare.len().div_ceil(groups).max(1))
        .map(|group| {
            let words: Vec<Triggering> = group.iter().map(|word| triggering(word)).collect();
            let any = words.iter().fold(
                Triggering {
                    rules: RuleSet::empty(),
                    facts: false,
                },
                |any, word| Triggering {
                    rules: any.rules.union(word.rules),
                    facts: any.facts || word.facts,
                },
            );
            // Leftmost-longest lets the automaton use its fast packed (SIMD) search.
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(group)
                .expect("the rules' trigger words build an automaton");
            RareGroup {
                automaton,
                words,
                any,
            }
        })
        .collect();
    TriggerIndex {
        rare,
        common: common
            .iter()
            .map(|word| {
                (
                    memchr::memmem::Finder::new(word.as_bytes()).into_owned(),
                    triggering(word),
                )
            })
            .collect(),
        always,
    }
});

/// Every word some rule waits for, in one comment line: prepended to a test's input, it makes
/// every rule run on it.
pub fn comment_with_every_word() -> String {
    let mut line = String::from("#");
    for &rule in Rule::ALL {
        if let Triggers::AnyOf(words) = rule.triggers() {
            for word in words {
                line.push(' ');
                line.push_str(word);
            }
        }
    }
    line.push('\n');
    line
}

/// The rules of `rules` that can have findings in `source`.
#[cfg(test)]
pub(crate) fn rules_to_run(source: &str, rules: RuleSet) -> RuleSet {
    scan(source, rules, false).rules
}

/// One pass over `source`: the rules of `rules` that can have findings in it, and (when
/// `want_facts`) whether it can contribute workspace facts.
pub(crate) fn scan(source: &str, rules: RuleSet, want_facts: bool) -> Triggered {
    let index = &*INDEX;
    let always = rules.intersect(index.always);
    let mut state = Scan {
        found: Triggered {
            rules: always,
            facts: false,
        },
        wanted: rules.difference(always),
        want_facts,
    };
    // Each search starts one byte after the previous match's start, so every position where a
    // word of the group starts is searched; at a position the group's longest word is reported,
    // and the words it contains (in any group) come with it.
    for group in &index.rare {
        let mut input = Input::new(source);
        while state.useful(&group.any)
            && let Some(at) = group.automaton.find(input.clone())
        {
            input.set_start(at.start() + 1);
            state.credit(&group.words[at.pattern().as_usize()]);
        }
    }
    for (finder, what) in &index.common {
        if state.useful(what) && finder.find(source.as_bytes()).is_some() {
            state.credit(what);
        }
    }
    state.found
}

/// A scan's progress: what it found, and what it still looks for.
struct Scan {
    found: Triggered,
    wanted: RuleSet,
    want_facts: bool,
}

impl Scan {
    /// Whether finding `what` would tell anything new.
    fn useful(&self, what: &Triggering) -> bool {
        !what.rules.intersect(self.wanted).is_empty() || (self.want_facts && what.facts)
    }

    fn credit(&mut self, what: &Triggering) {
        let triggered = what.rules.intersect(self.wanted);
        self.found.rules = self.found.rules.union(triggered);
        self.wanted = self.wanted.difference(triggered);
        if self.want_facts && what.facts {
            self.found.facts = true;
            self.want_facts = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fact_words_are_found_also_inside_longer_words() {
        for word in crate::workspace::FACT_WORDS {
            let text = format!("x = 1\n# {word}\n");
            assert!(scan(&text, RuleSet::empty(), true).facts, "{word}");
            assert!(scan(&text, RuleSet::all(), true).facts, "{word}");
        }
        // `weakref` is a rule's word and contains the fact word `weak`.
        assert!(scan("import weakref\n", RuleSet::empty(), true).facts);
        assert!(!scan("import os\n", RuleSet::all(), true).facts);
    }

    #[test]
    fn common_words_are_trigger_or_fact_words() {
        for word in COMMON_WORDS {
            let is_rule_word = Rule::ALL.iter().any(
                |rule| matches!(rule.triggers(), Triggers::AnyOf(words) if words.contains(word)),
            );
            assert!(
                is_rule_word || crate::workspace::FACT_WORDS.contains(word),
                "{word:?} is no rule's word: remove it from COMMON_WORDS"
            );
        }
    }

    #[test]
    fn every_rule_runs_when_its_word_occurs_and_only_then() {
        for &rule in Rule::ALL {
            let only: RuleSet = [rule].into_iter().collect();
            match rule.triggers() {
                Triggers::Always => assert!(rules_to_run("", only).contains(rule)),
                Triggers::AnyOf(words) => {
                    assert!(!words.is_empty(), "{rule}: an empty word list never runs");
                    assert!(!rules_to_run("x = 1\n", only).contains(rule), "{rule}");
                    assert!(!scan("x = 1\n", only, true).facts);
                    for word in words {
                        let text = format!("x = 1\n# {word}\n");
                        assert!(rules_to_run(&text, only).contains(rule), "{rule}: {word}");
                    }
                }
            }
        }
    }
}
