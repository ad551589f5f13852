//! Event validation and canonicalisation (SPEC.md, "An event").
//!
//! [`canonicalize`] turns a request body into the exact bytes the [`crate::EventLog`] appends:
//! one canonical JSON line per event. It validates and writes in a single pass with serde's
//! visitor API instead of `#[derive(Deserialize)]`, for three reasons:
//!
//! - **Duplicate keys.** A derived struct (and `serde_json::Value`) silently keeps the last of
//!   two equal keys. The visitors here see every key and reject a repeat.
//! - **Errors a person can act on.** Every wrong type gets its own sentence
//!   (`value must be a finite number`) instead of serde's `invalid type: string "x", expected f64`.
//! - **No allocation per event.** Nothing is collected into a struct: the name is checked and
//!   copied into a 128-byte array on the stack, tags are escaped straight into the output
//!   buffer, and numbers are formatted straight into it. The output `Vec` is the one
//!   allocation of a request (serde_json adds a scratch buffer only for strings with escapes).
//!
//! # Body formats
//!
//! The first non-whitespace byte decides. `[` means a JSON array of events. Anything else is
//! NDJSON, one event per line (blank lines skipped, `\r\n` allowed); a single object on one
//! line is NDJSON of one line. If the *first* line is not a whole valid event, the body is
//! read instead as a stream of whitespace-separated JSON objects: that accepts a single
//! object pretty-printed over many lines, and reports errors with positions in the whole body.
//!
//! # Canonical line
//!
//! `{"name":N,"value":V,"ts":T,"tags":{...}}\n`: keys in that order, no whitespace.
//! - `value` is the number as an `f64`, printed by serde_json (shortest form that reads back to
//!   the same `f64`). So `1`, `1.0` and `1e0` all become `1.0`, `1e300` becomes `1e+300`, and an
//!   integer above 2^53 is rounded to the nearest `f64`, as any JSON reader would store it.
//! - `ts` is always present: the client's, or the request's receive time.
//! - `tags` keep the client's order; strings are re-escaped by serde_json (so `"\u00e9"`
//!   becomes `"é"`). Absent tags and an empty `{}` are both omitted: one form per meaning.
//!
//! # Errors
//!
//! A batch is atomic: the first invalid event rejects the request. [`InvalidBatch`] names the
//! event by its **0-based** position in the batch (`event 3: ...` is the fourth event).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, SeqAccess, Visitor};
use serde_json::error::Category;

use fields::EventSeed;

mod fields;

/// Most events one request may carry (SPEC.md). Bounds the work and memory of one request.
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Longest event name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Most tag entries per event.
pub const MAX_TAGS: usize = 32;
/// Longest tag key, in bytes (the shortest is 1).
pub const MAX_TAG_KEY_LEN: usize = 64;
/// Longest tag value, in bytes (empty values are allowed).
pub const MAX_TAG_VALUE_LEN: usize = 256;

/// A valid batch, ready to append to the log.
#[derive(Debug)]
pub struct Batch {
    /// One canonical line per event, each ending in `\n`.
    pub lines: Vec<u8>,
    /// How many events (lines) `lines` holds: what `{"accepted":N}` reports.
    pub events: u64,
}

/// Why a body was rejected: the whole request gets `400` with this as its sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBatch {
    /// The 0-based position of the offending event, or `None` when the body as a whole is
    /// wrong (not UTF-8, empty, too many events).
    pub event: Option<usize>,
    /// What is wrong, as a sentence fragment (`value must be a finite number`).
    pub reason: String,
}

impl fmt::Display for InvalidBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event {
            Some(i) => write!(f, "event {i}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for InvalidBatch {}

impl InvalidBatch {
    fn whole(reason: impl Into<String>) -> InvalidBatch {
        InvalidBatch {
            event: None,
            reason: reason.into(),
        }
    }
}

/// Validates `body` (one event, an array of events, or NDJSON) and returns its canonical
/// lines. `received_ms` (milliseconds since the Unix epoch) stamps events without a `ts`.
pub fn canonicalize(body: &[u8], received_ms: u64) -> Result<Batch, InvalidBatch> {
    // Checking UTF-8 up front gives a clear message, and lets serde_json read a `&str`
    // without re-checking every string it borrows.
    let text = std::str::from_utf8(body).map_err(|e| {
        InvalidBatch::whole(format!(
            "the body is not valid UTF-8 (bad byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let mut state = State {
        // Canonical lines are usually a little longer than the input (a stamped `ts` adds ~26
        // bytes, `1` becomes `1.0`) or shorter (whitespace goes). Half again plus a little
        // means typical batches never reallocate; a body of tiny events may grow once or twice.
        out: Vec::with_capacity(body.len() + body.len() / 2 + 64),
        events: 0,
        started: false,
        too_many: false,
        received_ms,
    };
    let first = text.bytes().find(|b| !is_json_space(*b));
    if first == Some(b'[') {
        read_array(text, &mut state)?;
    } else if !read_lines(text, &mut state)? {
        // Its first line is not a whole event: a pretty-printed object (or a broken body,
        // which the stream reader reports with positions in the whole body).
        state.out.clear();
        state.events = 0;
        read_stream(text, &mut state)?;
    }
    if state.events == 0 {
        return Err(InvalidBatch::whole(
            "the batch is empty; send one event, a JSON array of 1 to 10000 events, or NDJSON",
        ));
    }
    Ok(Batch {
        lines: state.out,
        events: state.events,
    })
}

/// A JSON array of events.
fn read_array(text: &str, state: &mut State) -> Result<(), InvalidBatch> {
    let mut de = serde_json::Deserializer::from_str(text);
    let result = (&mut de).deserialize_seq(ArrayVisitor { state: &mut *state });
    result.map_err(|e| state.error(&e))?;
    de.end()
        .map_err(|e| InvalidBatch::whole(format!("unexpected data after the array: {e}")))
}

/// NDJSON: one event per non-blank line. Returns `Ok(false)`, having read nothing useful,
/// when the first line is not a whole valid event, so that the caller can try the stream
/// reader; after that, a bad line is an error of this batch.
///
/// Lines are the fast path: each gets its own `Deserializer` (a struct on the stack) and
/// `end()` confirms the line holds nothing more, without allocating. The stream reader can
/// only see the end of its input as an error value, which serde_json allocates.
fn read_lines(text: &str, state: &mut State) -> Result<bool, InvalidBatch> {
    for line in text.split('\n') {
        if line.bytes().all(is_json_space) {
            continue;
        }
        if state.events as usize == MAX_BATCH_EVENTS {
            return Err(too_many());
        }
        let index = state.events;
        let mut de = serde_json::Deserializer::from_str(line);
        let result = EventSeed { state: &mut *state }
            .deserialize(&mut de)
            .and_then(|()| de.end());
        if let Err(e) = result {
            if index == 0 {
                return Ok(false);
            }
            // `end` fails after the event was counted: the error belongs to this line.
            state.events = index;
            return Err(state.line_error(&e));
        }
    }
    Ok(true)
}

/// Whitespace-separated JSON objects, however they are laid out: a pretty-printed object.
fn read_stream(text: &str, state: &mut State) -> Result<(), InvalidBatch> {
    let mut de = serde_json::Deserializer::from_str(text);
    loop {
        if state.events as usize == MAX_BATCH_EVENTS {
            // `end` only succeeds when nothing but whitespace is left.
            return de.end().map_err(|_| too_many());
        }
        state.started = false;
        let event = EventSeed { state: &mut *state }.deserialize(&mut de);
        match event {
            Ok(()) => {}
            // End of input between events: the stream is complete.
            Err(e) if !state.started && e.is_eof() => return Ok(()),
            Err(e) => return Err(state.error(&e)),
        }
    }
}

fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\t' | b'\r')
}

fn too_many() -> InvalidBatch {
    InvalidBatch::whole(format!(
        "a batch holds at most {MAX_BATCH_EVENTS} events; split it into several requests"
    ))
}

/// What the visitors share while reading one body.
struct State {
    /// The canonical lines written so far.
    out: Vec<u8>,
    /// Complete events so far; also the index of the event being read.
    events: u64,
    /// Whether the current event's object has begun (tells a clean end of the stream from a
    /// truncated event: both are serde_json "EOF" errors).
    started: bool,
    /// The array held more than [`MAX_BATCH_EVENTS`] events.
    too_many: bool,
    /// The `ts` of events that have none.
    received_ms: u64,
}

impl State {
    /// Turns a serde_json error into the request's sentence, naming the event being read.
    fn error(&self, e: &serde_json::Error) -> InvalidBatch {
        if self.too_many {
            return too_many();
        }
        let full = e.to_string();
        let reason = match e.classify() {
            // Our own sentences: serde_json appends the position, which adds nothing to
            // "value must be a finite number" and would make the message differ per client.
            Category::Data => {
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                full.strip_suffix(&suffix).unwrap_or(&full).to_owned()
            }
            // Malformed JSON: here the position is what the person needs.
            Category::Syntax | Category::Eof => format!("invalid JSON: {full}"),
            Category::Io => full,
        };
        InvalidBatch {
            event: Some(self.events as usize),
            reason,
        }
    }

    /// Like [`State::error`], for an error inside one NDJSON line: serde_json only saw that
    /// line, so its "line 1" would mislead; the column is still right.
    fn line_error(&self, e: &serde_json::Error) -> InvalidBatch {
        let mut invalid = self.error(e);
        if matches!(e.classify(), Category::Syntax | Category::Eof) {
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            if let Some(code) = invalid.reason.strip_suffix(&suffix) {
                invalid.reason = format!("{code} at column {} of its line", e.column());
            }
        }
        invalid
    }
}

/// Reads the elements of a top-level array, one event each.
struct ArrayVisitor<'s> {
    state: &'s mut State,
}

impl<'de> Visitor<'de> for ArrayVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            if self.state.events as usize == MAX_BATCH_EVENTS {
                // One more element means too many; it is skipped, not validated.
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    self.state.too_many = true;
                    return Err(de::Error::custom("too many events"));
                }
                return Ok(());
            }
            if seq
                .next_element_seed(EventSeed { state: self.state })?
                .is_none()
            {
                return Ok(());
            }
        }
    }
}
