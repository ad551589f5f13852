//! One event's fields: the serde visitors that check each rule and write the canonical line.
//!
//! Each field has a *seed* (a `DeserializeSeed`, so it can carry the output buffer) and a
//! visitor that says no to every JSON type it does not want, in its own words.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::{State, MAX_NAME_LEN, MAX_TAGS, MAX_TAG_KEY_LEN, MAX_TAG_VALUE_LEN};

/// Generates the `visit_*` methods of a visitor that reject the JSON types it does not want,
/// each with `$msg`. serde_json's typed `deserialize_*` methods would report a mismatch in
/// serde's own words before reaching the visitor, so every visitor here is driven through
/// `deserialize_any` and says no in its own words.
macro_rules! reject {
    ($msg:expr; $($kind:ident),*) => { $( reject!(@one $msg, $kind); )* };
    (@one $msg:expr, bool) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { Err(E::custom($msg)) }
    };
    (@one $msg:expr, number) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> { Err(E::custom($msg)) }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { Err(E::custom($msg)) }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> { Err(E::custom($msg)) }
    };
    (@one $msg:expr, str) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { Err(E::custom($msg)) }
    };
    (@one $msg:expr, null) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { Err(E::custom($msg)) }
    };
    (@one $msg:expr, seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(de::Error::custom($msg))
        }
    };
    (@one $msg:expr, map) => {
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(de::Error::custom($msg))
        }
    };
}

/// Reads one event and appends its canonical line to `state.out`.
pub(super) struct EventSeed<'s> {
    pub(super) state: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event (a JSON object)")
    }

    reject!("an event must be a JSON object"; bool, number, str, null, seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.state;
        state.started = true;
        let start = state.out.len();
        let mut name: Option<Name> = None;
        let mut value: Option<f64> = None;
        let mut ts: Option<u64> = None;
        let mut tags_seen = false;
        while let Some(field) = map.next_key_seed(FieldSeed)? {
            match field {
                Field::Name if name.is_some() => return Err(duplicate("name")),
                Field::Value if value.is_some() => return Err(duplicate("value")),
                Field::Ts if ts.is_some() => return Err(duplicate("ts")),
                Field::Tags if tags_seen => return Err(duplicate("tags")),
                Field::Name => name = Some(map.next_value_seed(NameSeed)?),
                Field::Value => value = Some(map.next_value_seed(ValueSeed)?),
                Field::Ts => ts = Some(map.next_value_seed(TsSeed)?),
                Field::Tags => {
                    tags_seen = true;
                    // Tags go straight into the output, before the rest of the line is known;
                    // the line's head is moved in front of them below.
                    map.next_value_seed(TagsSeed {
                        out: &mut state.out,
                    })?;
                }
            }
        }
        let name = name.ok_or_else(|| de::Error::custom("name is required"))?;
        let value = value.ok_or_else(|| de::Error::custom("value is required"))?;
        let ts = ts.unwrap_or(state.received_ms);

        let out = &mut state.out;
        let tags_len = out.len() - start;
        let head_start = out.len();
        out.extend_from_slice(b"{\"name\":\"");
        // The name's alphabet needs no escaping.
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\",\"value\":");
        serde_json::to_writer(&mut *out, &value).map_err(de::Error::custom)?;
        out.extend_from_slice(b",\"ts\":");
        out.extend_from_slice(itoa::Buffer::new().format(ts).as_bytes());
        if tags_len > 0 {
            let head_len = out.len() - head_start;
            out[start..].rotate_right(head_len);
        }
        out.extend_from_slice(b"}\n");
        state.events += 1;
        Ok(())
    }
}

fn duplicate<E: de::Error>(field: &str) -> E {
    E::custom(format_args!("duplicate field `{field}`"))
}

/// The four fields an event may have.
enum Field {
    Name,
    Value,
    Ts,
    Tags,
}

struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Field, E> {
        match key {
            "name" => Ok(Field::Name),
            "value" => Ok(Field::Value),
            "ts" => Ok(Field::Ts),
            "tags" => Ok(Field::Tags),
            other => Err(E::custom(format_args!(
                "unknown field `{}`; an event has only name, value, ts and tags",
                truncate(other, 64)
            ))),
        }
    }
}

/// The first `max` bytes of `s` (at a character boundary), so that an error message quoting
/// client input stays short.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A checked event name, copied onto the stack: no allocation even when the client escaped
/// some of its characters (`"cpu\u002eload"`), which a borrowed `&str` could not express.
struct Name {
    buf: [u8; MAX_NAME_LEN],
    len: usize,
}

impl Name {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

const NAME_TYPE: &str = "name must be a string";

struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Name;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Name, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Name;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NAME_TYPE)
    }

    reject!(NAME_TYPE; bool, number, null, seq, map);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
        if v.is_empty() || v.len() > MAX_NAME_LEN {
            return Err(E::custom(format_args!(
                "name must be 1 to {MAX_NAME_LEN} bytes long, not {}",
                v.len()
            )));
        }
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-');
        if !v.as_bytes().iter().all(allowed) {
            return Err(E::custom(
                "name may contain only letters A-Z a-z, digits, '_', '.', ':' and '-'",
            ));
        }
        let mut name = Name {
            buf: [0; MAX_NAME_LEN],
            len: v.len(),
        };
        name.buf[..v.len()].copy_from_slice(v.as_bytes());
        Ok(name)
    }
}

const VALUE_TYPE: &str = "value must be a finite number";

struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = f64;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(VALUE_TYPE)
    }

    reject!(VALUE_TYPE; bool, str, null, seq, map);

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        // JSON cannot spell NaN or infinity and serde_json rejects overflowing literals
        // (`1e400`) itself; the check keeps the promise even if that ever changes.
        if v.is_finite() {
            Ok(v)
        } else {
            Err(E::custom(VALUE_TYPE))
        }
    }
}

const TS_TYPE: &str = "ts must be a whole number of milliseconds since the Unix epoch, >= 0";

struct TsSeed;

impl<'de> DeserializeSeed<'de> for TsSeed {
    type Value = u64;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TsSeed {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TS_TYPE)
    }

    // serde_json hands non-negative integers to `visit_u64`, negative ones to `visit_i64`,
    // and anything with a fraction or exponent (`1.5`, `1e3`) to `visit_f64`.
    reject!(TS_TYPE; bool, str, null, seq, map);

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(TS_TYPE))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<u64, E> {
        Err(E::custom(TS_TYPE))
    }
}

const TAGS_TYPE: &str = "tags must be an object of string keys to string values";

/// Reads a `tags` object and writes `,"tags":{...}` into `out` (nothing for `{}`).
struct TagsSeed<'o> {
    out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for TagsSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TagsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TAGS_TYPE)
    }

    reject!(TAGS_TYPE; bool, number, str, null, seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.out;
        let start = out.len();
        out.extend_from_slice(b",\"tags\":{");
        // Where each escaped key sits in `out`: equal strings escape to equal bytes, so
        // comparing these ranges finds duplicate keys without keeping the keys elsewhere.
        let mut keys = [(0usize, 0usize); MAX_TAGS];
        let mut count = 0;
        loop {
            let key_start = out.len() + usize::from(count > 0);
            let more = map.next_key_seed(TagStringSeed {
                out: &mut *out,
                comma: count > 0,
                key: true,
            })?;
            if more.is_none() {
                break;
            }
            if count == MAX_TAGS {
                return Err(de::Error::custom(format_args!(
                    "tags may hold at most {MAX_TAGS} entries"
                )));
            }
            let key = (key_start, out.len());
            if keys[..count]
                .iter()
                .any(|&(s, e)| out[s..e] == out[key.0..key.1])
            {
                return Err(de::Error::custom(format_args!(
                    "duplicate tag {}",
                    truncate(std::str::from_utf8(&out[key.0..key.1]).unwrap_or("key"), 66)
                )));
            }
            keys[count] = key;
            count += 1;
            out.push(b':');
            map.next_value_seed(TagStringSeed {
                out: &mut *out,
                comma: false,
                key: false,
            })?;
        }
        if count == 0 {
            out.truncate(start);
        } else {
            out.push(b'}');
        }
        Ok(())
    }
}

/// Checks one tag key or value and writes it, escaped, into `out`.
struct TagStringSeed<'o> {
    out: &'o mut Vec<u8>,
    /// Write a `,` first (every key but the first).
    comma: bool,
    /// A key (1 to 64 bytes) rather than a value (at most 256 bytes).
    key: bool,
}

impl<'de> DeserializeSeed<'de> for TagStringSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TagStringSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    // JSON object keys are always strings, so only values can hit these.
    reject!("tag values must be strings"; bool, number, null, seq, map);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.key && (v.is_empty() || v.len() > MAX_TAG_KEY_LEN) {
            return Err(E::custom(format_args!(
                "tag keys must be 1 to {MAX_TAG_KEY_LEN} bytes long, not {}",
                v.len()
            )));
        }
        if !self.key && v.len() > MAX_TAG_VALUE_LEN {
            return Err(E::custom(format_args!(
                "tag values must be at most {MAX_TAG_VALUE_LEN} bytes long, not {}",
                v.len()
            )));
        }
        if self.comma {
            self.out.push(b',');
        }
        serde_json::to_writer(&mut *self.out, v).map_err(E::custom)
    }
}
