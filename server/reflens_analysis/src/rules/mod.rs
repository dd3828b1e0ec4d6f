//! One rule per file. Each file declares its rule with `declare_rule!` (the doc comment is the
//! rule's documentation) and exposes `check(&mut Checker)`.

pub mod back_reference_cycle;
pub mod bound_method_registered;
pub mod del_finalizer;
pub mod del_still_referenced;
pub mod exc_info_local;
pub mod gc_not_reenabled;
pub mod handler_keeps_records;
pub mod instance_registry;
pub mod long_lived_view;
pub mod method_cache;
pub mod mutable_default_cache;
pub mod resource_owner_without_close;
pub mod slots_without_weakref;
pub mod stored_exception;
pub mod stored_frame;
pub mod stored_suspended_frame;
pub mod strong_observer_list;
pub mod tensor_graph_accumulated;
pub mod thread_local_not_cleared;
pub mod unbounded_module_cache;
pub mod unchecked_weakref;
pub mod unclosed_resource;
