//! Live facts as hover Markdown.

use std::fmt::Write as _;

use reflens_protocol::ObjectFacts;

/// The live part of a hover: what the running program says about the object.
pub fn facts_markdown(facts: &ObjectFacts, state: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "**live** ({state}): `{}` — {} · `{}`\n",
        facts.expression, facts.scope, facts.type_name
    );
    match facts.refcount {
        Some(count) => {
            let _ = writeln!(
                out,
                "- **{count}** reference{} (`sys.getrefcount(x) - 1`, not counting reflens's own)",
                if count == 1 { "" } else { "s" }
            );
        }
        None => {
            let _ = writeln!(out, "- immortal object (its reference count never changes)");
        }
    }
    if !facts.referrers.is_empty() {
        let _ = writeln!(out, "- referred to by:");
        for referrer in facts.referrers.iter().take(8) {
            let times = if referrer.count > 1 {
                format!(" ×{}", referrer.count)
            } else {
                String::new()
            };
            let _ = writeln!(out, "  - {}{times}", escape(&referrer.description));
        }
        if facts.referrers.len() > 8 {
            let _ = writeln!(out, "  - … and {} more", facts.referrers.len() - 8);
        }
    }
    if !facts.chain.is_empty() {
        let path: Vec<String> = facts
            .chain
            .iter()
            .map(|step| escape(&step.description))
            .collect();
        let _ = writeln!(out, "- kept alive by: {}", path.join(" → "));
    }
    let mut traits = vec![format!(
        "size {} · deep {} · retained {}",
        bytes(facts.size),
        bytes(facts.deep_size),
        bytes(facts.retained_size)
    )];
    if facts.in_cycle {
        traits.push("in a reference cycle".into());
    }
    if facts.uncollectable {
        traits.push("**uncollectable** (in `gc.garbage`)".into());
    }
    traits.push(if facts.weakrefable {
        "weak-referenceable".into()
    } else {
        "not weak-referenceable".into()
    });
    let _ = writeln!(out, "- {}", traits.join(" · "));
    if let Some(tensor) = &facts.tensor {
        let _ = writeln!(
            out,
            "- tensor on `{}`, `{}` {:?}, {}{}{}",
            tensor.device,
            tensor.dtype,
            tensor.shape,
            bytes(tensor.bytes),
            if tensor.has_grad_fn {
                ", with autograd history"
            } else {
                ""
            },
            tensor
                .cuda_memory_allocated
                .map(|cuda| format!(", CUDA allocated {}", bytes(cuda)))
                .unwrap_or_default()
        );
    }
    let repr = facts.repr.replace('`', "'");
    let _ = writeln!(out, "- `{repr}`");
    out
}

pub fn bytes(count: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Descriptions are plain text (`global _cache in module __main__`): Markdown would read the
/// underscores as emphasis.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '_' | '*' | '`' | '<' | '>' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(bytes(56), "56 B");
        assert_eq!(bytes(2048), "2.0 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 + 1), "3.0 MiB");
    }
}
