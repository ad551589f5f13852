//! Compiled only on an OS that `sys/mod.rs` maps to no backend: this crate speaks epoll and
//! kqueue and nothing else.

compile_error!(
    "p3-reactor speaks only epoll (Linux, Android) and kqueue (macOS, iOS, the BSDs); \
     phase 4 depends on its slab and timers, so it is Unix-only too"
);
