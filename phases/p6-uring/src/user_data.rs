//! What a completion is for: 64 bits the kernel carries from a submission to its completion.
//!
//! epoll gave each *socket* 64 bits of our own (phase 3's `Token`); io_uring gives each
//! *operation* 64 bits, `user_data`, returned untouched in its completion. We pack three
//! things into them:
//!
//! ```text
//!  63            32 31                 8 7      0
//! +----------------+--------------------+--------+
//! |   generation   |     slab key       |   op   |
//! +----------------+--------------------+--------+
//! ```
//!
//! The slab key names the connection, the op says which of its operations completed, and the
//! generation (the slab's, truncated to 32 bits) tells a completion for the connection that
//! held the slot from one for a newer connection in the same slot. The reactor frees a slot
//! only once every operation of its connection has completed, so a completion should never
//! find its slot reused; the generation turns "should never" into a check that drops it.
//! (Truncation: a slot would have to be reused 2^32 times while one completion is late.)

// ANCHOR: user_data
/// Which operation a completion belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The listener's multishot accept: one submission, a completion per new connection.
    Accept = 0,
    /// The read of the shutdown eventfd: completes when SIGINT/SIGTERM arrives.
    Shutdown = 1,
    /// A connection's receive, into a buffer the kernel picks from the provided-buffer ring.
    Recv = 2,
    /// A connection's send, from its `Conn`'s output.
    Send = 3,
    /// The cancellation of a connection's receive or send (a completion of its own).
    Cancel = 4,
    /// The cancellation of the multishot accept, when shutdown begins.
    StopAccept = 5,
    /// The read of the event log's eventfd: the writer finished a group (`--ack written`).
    LogMoved = 6,
}

/// A decoded `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserData {
    /// What the operation was.
    pub op: Op,
    /// The connection's slab key (0 for the reactor's own operations).
    pub key: usize,
    /// The slot's generation when the operation was submitted, truncated to 32 bits.
    pub generation: u32,
}

/// Slab keys must fit in 24 bits: 16 million connections per ring.
pub const MAX_KEY: usize = (1 << 24) - 1;

impl UserData {
    /// An operation of the reactor itself (accept, the wake-ups, stopping the accept).
    pub fn reactor(op: Op) -> UserData {
        UserData {
            op,
            key: 0,
            generation: 0,
        }
    }

    /// An operation of the connection in slot `key` at `generation`.
    pub fn connection(op: Op, key: usize, generation: u64) -> UserData {
        debug_assert!(key <= MAX_KEY, "slab key {key} does not fit in user_data");
        UserData {
            op,
            key,
            generation: generation as u32,
        }
    }

    /// The 64 bits to put in a submission.
    pub fn encode(self) -> u64 {
        (u64::from(self.generation) << 32) | ((self.key as u64) << 8) | self.op as u64
    }

    /// The 64 bits of a completion, decoded; `None` for an op we never submit.
    pub fn decode(bits: u64) -> Option<UserData> {
        let op = match bits & 0xff {
            0 => Op::Accept,
            1 => Op::Shutdown,
            2 => Op::Recv,
            3 => Op::Send,
            4 => Op::Cancel,
            5 => Op::StopAccept,
            6 => Op::LogMoved,
            _ => return None,
        };
        Some(UserData {
            op,
            key: ((bits >> 8) & MAX_KEY as u64) as usize,
            generation: (bits >> 32) as u32,
        })
    }
}
// ANCHOR_END: user_data

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field survives the round trip, at the edges of its range.
    #[test]
    fn round_trip() {
        for (op, key, generation) in [
            (Op::Recv, 0, 0),
            (Op::Send, MAX_KEY, u64::from(u32::MAX)),
            (Op::Cancel, 12345, 7),
            (Op::Accept, 0, 0),
            (Op::Shutdown, 0, 0),
            (Op::LogMoved, 0, 0),
        ] {
            let data = UserData::connection(op, key, generation);
            assert_eq!(UserData::decode(data.encode()), Some(data));
        }
    }

    /// Generations past 32 bits wrap, and the wrapped value is what comes back.
    #[test]
    fn generation_truncates() {
        let data = UserData::connection(Op::Recv, 3, (1 << 32) + 5);
        assert_eq!(UserData::decode(data.encode()).unwrap().generation, 5);
    }

    /// A value we never encode is not mistaken for an operation.
    #[test]
    fn unknown_op_is_rejected() {
        assert_eq!(UserData::decode(0xff), None);
    }
}
