//! One rule per file. Each file declares its rule with `declare_rule!` (the doc comment is the
//! rule's documentation) and exposes `check(&mut Checker)`.

pub mod del_finalizer;
pub mod instance_registry;
pub mod method_cache;
pub mod mutable_default_cache;
pub mod stored_exception;
pub mod unclosed_resource;
