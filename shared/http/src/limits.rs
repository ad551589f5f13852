//! The numbers that bound one connection's work and memory (SPEC.md, "Limits and timeouts").

use std::time::Duration;

/// Limits and timeouts that [`crate::Conn`] enforces. One value serves every connection of a
/// server; [`crate::Handler::limits`] hands it to `Conn` on each call, so a connection does
/// not carry a copy of the whole struct: it keeps only the two fields it needs where no
/// handler is at hand (see `Conn`'s `idle_timeout` and `high_water_mark`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Request line plus headers, in bytes, before `431`.
    pub max_head: usize,
    /// Number of header fields before `431`.
    pub max_headers: usize,
    /// Length of the request target before `414`.
    pub max_target: usize,
    /// Body bytes (declared by `Content-Length`, or decoded from chunks) before `413`.
    pub max_body: usize,
    /// From a request's first byte to the end of its body; exceeded: `408` and close.
    pub header_timeout: Duration,
    /// A keep-alive connection with no request open is closed (silently) after this long,
    /// and so is a connection whose pending output has not moved for this long (write stall).
    pub idle_timeout: Duration,
    /// Unsent output above which the connection stops reading (and stops answering buffered
    /// pipelined requests) until the client drains it.
    pub high_water_mark: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8 * 1024,
            max_headers: 100,
            max_target: 4 * 1024,
            max_body: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            high_water_mark: 64 * 1024,
        }
    }
}
