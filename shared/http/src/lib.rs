//! # ingest-http: a sans-I/O HTTP/1.1 server core
//!
//! This crate never touches a socket or a thread. It takes bytes in and gives bytes (and
//! decisions) out, and it keeps time by the `now: Instant` its caller passes in, so tests
//! drive deadlines without sleeping. One exception, on purpose: the `Date` header. Every
//! response must carry the wall-clock time (RFC 9110, section 6.6.1), so the encoder in
//! [`response`] reads `SystemTime::now()` itself (formatting it at most once a second per
//! thread) rather than make every phase pass a second clock through every call. Tests that
//! compare responses byte for byte strip the `Date` line. Every phase of the book is then only the answer to one
//! question: *how do bytes get from many sockets into [`Conn`] and back?*
//!
//! ```text
//!  socket bytes ──► [phase: I/O loop] ──► Conn::on_read ──► Handler::on_head / on_request
//!                       ▲                                          │
//!                       └──── Conn::output / on_written ◄──────────┘  (responses, in order)
//! ```
//!
//! # Layout
//!
//! - [`limits`]: the numbers SPEC.md fixes (8 KiB of head, 100 headers, 4 KiB target, ...).
//! - [`parse`]: the request-head parser. Borrowing, one pass, no allocation per header.
//! - [`scan`]: the resumable scan for the end of a head, so a head sent byte by byte is
//!   not re-parsed from its start on every read.
//! - [`framing`]: what the fields mean: body framing, keep-alive, `Expect`, `Host`;
//!   and why the framing rules are strict (request smuggling).
//! - [`body`]: body framing: `Content-Length` and the chunked decoder.
//! - [`response`]: the response encoder and the once-a-second `Date` cache.
//! - [`error`]: [`HttpError`], each malformed input mapped to its status and a sentence.
//! - [`conn`]: [`Conn`], one connection's protocol state: pipelining, keep-alive,
//!   `Expect: 100-continue`, deadlines, the output high-water mark.
//!
//! # What it leaves out on purpose
//!
//! HTTP/2, responses to upgrade requests, and request bodies streamed to the handler: a body
//! is at most `--max-body` (1 MiB by default), so the handler gets it whole.

// Every public item says what it is for: the documentation is part of the lesson.
#![warn(missing_docs)]

pub mod body;
pub mod conn;
pub mod error;
pub mod framing;
pub mod limits;
pub mod parse;
pub mod response;
pub mod scan;

pub use conn::{Conn, Handler, Pending, Reply};
pub use error::HttpError;
pub use limits::Limits;
pub use parse::{Framing, Header, RequestHead, Version};
pub use response::{Body, Response};
