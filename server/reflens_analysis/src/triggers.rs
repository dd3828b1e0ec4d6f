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
    /// The rules that run on every file.
    always: RuleSet,
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
pub(crate) fn rules_to_run(source: &str, rules: RuleSet) -> RuleSet {
    let index = &*INDEX;
    let mut run = rules.intersect(index.always);
    let mut wanted = rules.difference(run);
    if wanted.is_empty() {
        return run;
    }
    // Each search starts one byte after the previous match's start, so every position where a
    // word starts is searched; at a position the longest word is reported, and the words it
    // contains come with it (`rules_of_word`).
    let mut input = Input::new(source);
    while let Some(found) = index.automaton.find(input.clone()) {
        input.set_start(found.start() + 1);
        let triggered = index.rules_of_word[found.pattern().as_usize()].intersect(wanted);
        if !triggered.is_empty() {
            run = run.union(triggered);
            wanted = wanted.difference(triggered);
            if wanted.is_empty() {
                break;
            }
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_runs_when_its_word_occurs_and_only_then() {
        for &rule in Rule::ALL {
            let only: RuleSet = [rule].into_iter().collect();
            match rule.triggers() {
                Triggers::Always => assert!(rules_to_run("", only).contains(rule)),
                Triggers::AnyOf(words) => {
                    assert!(!words.is_empty(), "{rule}: an empty word list never runs");
                    assert!(!rules_to_run("x = 1\n", only).contains(rule), "{rule}");
                    for word in words {
                        let text = format!("x = 1\n# {word}\n");
                        assert!(rules_to_run(&text, only).contains(rule), "{rule}: {word}");
                    }
                }
            }
        }
    }
}
