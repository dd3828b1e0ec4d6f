//! Words whose absence from a file proves that a rule has nothing to find in it.
//!
//! Most leak patterns need a particular name to appear: a `__del__`, an `atexit` import, a
//! `gc.disable()`. One pass of an Aho-Corasick automaton over the text finds which of every
//! rule's words occur, and a rule none of whose words occur is not run on that file. This is
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

struct TriggerIndex {
    automaton: AhoCorasick,
    /// For each word of the automaton, the rules it triggers: its own and those of every word
    /// it contains (a match of the longer word is a match of the shorter ones too).
    rules_of_word: Vec<RuleSet>,
    /// For each word, whether it is (or contains) one of the workspace's fact words.
    gives_facts: Vec<bool>,
    /// The rules that run on every file.
    always: RuleSet,
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
    let gives_facts = words
        .iter()
        .map(|word| {
            crate::workspace::FACT_WORDS
                .iter()
                .any(|fact| word.contains(fact))
        })
        .collect();
    let rules_of_word = words
        .iter()
        .map(|word| {
            words
                .iter()
                .zip(&rules_of_word)
                .filter(|(inner, _)| word.contains(*inner))
                .fold(RuleSet::empty(), |set, (_, rules)| set.union(*rules))
        })
        .collect();
    // Leftmost-longest lets the automaton use its fast packed (SIMD) search.
    let automaton = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .build(&words)
        .expect("the rules' trigger words build an automaton");
    TriggerIndex {
        automaton,
        rules_of_word,
        gives_facts,
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
    let mut run = rules.intersect(index.always);
    let mut wanted = rules.difference(run);
    let mut facts = false;
    let mut want_facts = want_facts;
    if wanted.is_empty() && !want_facts {
        return Triggered { rules: run, facts };
    }
    // Each search starts one byte after the previous match's start, so every position where a
    // word starts is searched; at a position the longest word is reported, and the words it
    // contains come with it (`rules_of_word`, `gives_facts`).
    let mut input = Input::new(source);
    while let Some(found) = index.automaton.find(input.clone()) {
        input.set_start(found.start() + 1);
        let word = found.pattern().as_usize();
        let triggered = index.rules_of_word[word].intersect(wanted);
        run = run.union(triggered);
        wanted = wanted.difference(triggered);
        if want_facts && index.gives_facts[word] {
            facts = true;
            want_facts = false;
        }
        if wanted.is_empty() && !want_facts {
            break;
        }
    }
    Triggered { rules: run, facts }
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
