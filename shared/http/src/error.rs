//! [`HttpError`]: every way a request can be malformed, each with its status (SPEC.md) and one
//! sentence a person can act on. (Implementation to follow.)

/// A request the server cannot serve, decided by the protocol layer before any handler runs.
/// The connection closes after the error response (after a framing error the next request's
/// first byte cannot be found safely: that is how request smuggling starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    /// `400`, `408`, `413`, `414`, `431`, `501` or `505`.
    pub status: u16,
    /// One sentence a person can act on, sent as `{"error":"..."}`.
    pub message: &'static str,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}
