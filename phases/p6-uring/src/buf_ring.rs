//! The provided-buffer ring: where receives get their memory.
//!
//! A completion-based receive needs its buffer *at submission*: the kernel writes into it
//! whenever bytes arrive, maybe minutes later. Give each connection's pending receive a
//! buffer of its own and 10,000 idle keep-alive connections pin 10,000 buffers, doing
//! nothing. Phase 3 never had that problem: readiness told it *when* to read, and it read
//! into one scratch buffer.
//!
//! Provided buffers give the completion model the same economy. We hand the kernel a pool
//! of buffers up front (here a ring of `(address, length, buffer id)` entries in memory we
//! share with it, `IORING_REGISTER_PBUF_RING`, Linux 5.19), and submit each receive with
//! `IOSQE_BUFFER_SELECT` and no buffer at all. When bytes arrive, the kernel takes the next
//! buffer from the ring, fills it, and names it in the completion (`IORING_CQE_F_BUFFER`,
//! the id in the upper 16 bits of the flags). From then on the buffer is ours: we hand the
//! bytes to `Conn`, which copies only an incomplete request's tail, and put the buffer back
//! at the ring's tail at once. A pending receive costs no user memory; the pool is sized for
//! the receives that complete between two loop turns, not for the connections.
//!
//! The ring protocol is a single-producer queue: the kernel consumes entries from a head only
//! it knows; we produce at the tail, writing the entry first and then publishing the new
//! tail with a release store (the tail is the `resv` field of entry 0, where the kernel's
//! `struct io_uring_buf_ring` keeps it).
//!
//! If the pool runs dry, a receive completes with `ENOBUFS` and no bytes lost (they stay in
//! the socket); the reactor re-arms it once buffers are back.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

// ANCHOR: sizes
/// Buffers in the pool (a power of two, as the ring requires). Enough for every connection
/// of a 1,000-connection benchmark to complete a receive between two loop turns; beyond that
/// a receive waits a turn (`ENOBUFS`, re-armed), it does not fail.
pub const BUFFERS: u16 = 1024;

/// Bytes per buffer: one page, which holds a typical request. A larger request takes several
/// receives; `Conn` joins them as it joins phase 3's reads. 1,024 x 4 KiB = 4 MiB per ring,
/// a fixed cost paid at start (the pages are populated then), the same for 0 or 100,000
/// connections.
pub const BUFFER_SIZE: usize = 4096;
// ANCHOR_END: sizes

/// The buffer group id receives name in their submission. Each ring has its own groups.
pub const GROUP: u16 = 0;

/// The pool and its ring of entries. [`BufRing::release`] unregisters and unmaps them; a
/// pool dropped without it (the reactor gave up on operations still in flight) leaks its
/// memory rather than free what the kernel may still write to.
pub struct BufRing {
    /// `BUFFERS` entries of 16 bytes, page-aligned as the kernel requires, shared with it.
    entries: NonNull<BufRingEntry>,
    /// `BUFFERS * BUFFER_SIZE` bytes, buffer `i` at offset `i * BUFFER_SIZE`.
    buffers: NonNull<u8>,
    /// Our copy of the tail: the next entry we write. Published through `tail()`.
    tail: u16,
    /// Buffers the kernel has handed to us in completions and we have not given back yet.
    lent: usize,
}

impl BufRing {
    /// Maps the pool and its ring, registers the ring with `ring` as group [`GROUP`], and
    /// offers every buffer.
    pub fn new(ring: &IoUring) -> io::Result<BufRing> {
        let entries = map(usize::from(BUFFERS) * std::mem::size_of::<BufRingEntry>())?;
        let buffers = match map(usize::from(BUFFERS) * BUFFER_SIZE) {
            Ok(buffers) => buffers,
            Err(e) => {
                unmap(
                    entries,
                    usize::from(BUFFERS) * std::mem::size_of::<BufRingEntry>(),
                );
                return Err(e);
            }
        };
        let mut pool = BufRing {
            entries: entries.cast(),
            buffers,
            tail: 0,
            lent: 0,
        };
        // SAFETY: `entries` points to BUFFERS page-aligned entries that stay mapped until
        // `release`, which unregisters the group before unmapping them.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                pool.entries.as_ptr() as u64,
                BUFFERS,
                GROUP,
                0,
            )?;
        }
        for bid in 0..BUFFERS {
            pool.offer(bid);
        }
        Ok(pool)
    }

    /// The `len` bytes the kernel wrote into buffer `bid`.
    pub fn bytes(&self, bid: u16, len: usize) -> &[u8] {
        assert!(
            bid < BUFFERS && len <= BUFFER_SIZE,
            "buffer {bid}, {len} bytes"
        );
        // SAFETY: in bounds (checked above) of the mapping we own; the kernel wrote `len`
        // bytes there before posting the completion that named `bid`, and does not touch the
        // buffer again until `give_back` offers it anew.
        unsafe {
            std::slice::from_raw_parts(
                self.buffers.as_ptr().add(usize::from(bid) * BUFFER_SIZE),
                len,
            )
        }
    }

    /// A completion handed us buffer `bid`: count it as ours until [`BufRing::give_back`].
    pub fn taken(&mut self) {
        self.lent += 1;
    }

    /// Returns buffer `bid` to the kernel.
    pub fn give_back(&mut self, bid: u16) {
        self.lent -= 1;
        self.offer(bid);
    }

    /// Some buffer is in the ring (for re-arming receives that met `ENOBUFS`). An estimate
    /// from our side: the kernel may be taking the last one right now, and then the re-armed
    /// receive meets `ENOBUFS` again, which is harmless.
    pub fn has_free(&self) -> bool {
        self.lent < usize::from(BUFFERS)
    }

    // ANCHOR: offer
    /// Writes buffer `bid` at the tail, then publishes the tail to the kernel.
    fn offer(&mut self, bid: u16) {
        let index = usize::from(self.tail & (BUFFERS - 1));
        // SAFETY: `index < BUFFERS`, inside the entries mapping. The kernel reads entries
        // only between its head and the published tail, and this one is past the tail.
        let entry = unsafe { &mut *self.entries.as_ptr().add(index) };
        // SAFETY: in bounds of the buffers mapping, which outlives the registration.
        entry.set_addr(unsafe { self.buffers.as_ptr().add(usize::from(bid) * BUFFER_SIZE) } as u64);
        entry.set_len(BUFFER_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        // Release: the kernel must see the entry's fields before it sees the tail move.
        self.tail_atomic().store(self.tail, Ordering::Release);
    }
    // ANCHOR_END: offer

    fn tail_atomic(&self) -> &AtomicU16 {
        // SAFETY: `tail` points to the u16 in entry 0 that the kernel reads as the ring's
        // tail; it is aligned (offset 14 in a 16-byte, page-aligned entry) and mapped for as
        // long as `self` lives. Only we write it; the kernel reads it concurrently, hence
        // the atomic.
        unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.entries.as_ptr()) as *mut u16) }
    }
}

impl BufRing {
    /// Unregisters the group from `ring` and unmaps the memory. Only once no receive is in
    /// flight: the kernel could otherwise still write into a buffer.
    pub fn release(self, ring: &IoUring) {
        // Unregister first, so that the kernel forgets the addresses before they go.
        if let Err(e) = ring.submitter().unregister_buf_ring(GROUP) {
            tracing::debug!("unregistering the buffer ring: {e}");
        }
        unmap(
            self.entries.cast(),
            usize::from(BUFFERS) * std::mem::size_of::<BufRingEntry>(),
        );
        unmap(self.buffers, usize::from(BUFFERS) * BUFFER_SIZE);
    }
}

/// Anonymous, private, populated memory: page-aligned (mmap's granularity), zeroed, and
/// resident from the start, so that the pool shows in the RSS as the fixed cost it is.
fn map(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a new anonymous mapping; no existing memory is touched.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(NonNull::new(ptr.cast()).expect("mmap never returns null on success"))
}

fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: `ptr` and `len` are exactly one mapping made by `map`, no longer used.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use io_uring::{cqueue, opcode, squeue, types};

    use super::*;
    use crate::ring::Ring;

    /// Receives get provided buffers only when bytes arrive, each holding exactly those
    /// bytes, and buffers given back are reused past the ring's wrap-around.
    #[test]
    fn receives_draw_buffers_and_the_ring_wraps() {
        if !crate::ring_available_or_skip("receives_draw_buffers_and_the_ring_wraps") {
            return;
        }
        let mut ring = Ring::new().unwrap();
        let mut pool = BufRing::new(ring.io_uring()).unwrap();
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let mut completions = Vec::new();
        // Three times around the ring: a tail published wrongly would starve or corrupt.
        for round in 0..3 * usize::from(BUFFERS) {
            let recv = opcode::Recv::new(types::Fd(ours.as_raw_fd()), std::ptr::null_mut(), 4096)
                .buf_group(GROUP)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT)
                .user_data(7);
            // SAFETY: no memory of ours; the pool outlives the receive.
            unsafe { ring.push(recv) };
            if round == 0 {
                // Nothing sent yet: the receive waits, holding no buffer.
                ring.submit_and_wait(Some(Duration::from_millis(20)))
                    .unwrap();
                ring.take_completions(&mut completions);
                assert!(
                    completions.is_empty(),
                    "a receive completed with nothing sent"
                );
            }
            let message = format!("request {round}");
            theirs.write_all(message.as_bytes()).unwrap();
            for _ in 0..50 {
                if !completions.is_empty() {
                    break;
                }
                ring.submit_and_wait(Some(Duration::from_millis(100)))
                    .unwrap();
                ring.take_completions(&mut completions);
            }
            let completion = completions.pop().expect("no completion within 5 s");
            assert_eq!(completion.user_data(), 7);
            assert_eq!(completion.result(), message.len() as i32, "round {round}");
            let bid = cqueue::buffer_select(completion.flags()).expect("a provided buffer");
            pool.taken();
            assert_eq!(pool.bytes(bid, message.len()), message.as_bytes());
            pool.give_back(bid);
        }
        assert!(pool.has_free());
        pool.release(ring.io_uring());
    }

    /// More submissions than the SQ holds all go in, and all complete.
    #[test]
    fn a_full_submission_queue_loses_nothing() {
        if !crate::ring_available_or_skip("a_full_submission_queue_loses_nothing") {
            return;
        }
        let mut ring = Ring::new().unwrap();
        const N: u64 = 5000;
        for i in 0..N {
            // SAFETY: a no-op points to no memory.
            unsafe { ring.push(opcode::Nop::new().build().user_data(i)) };
        }
        let mut completions = Vec::new();
        for _ in 0..50 {
            if completions.len() as u64 >= N {
                break;
            }
            ring.submit_and_wait(Some(Duration::from_millis(100)))
                .unwrap();
            ring.take_completions(&mut completions);
        }
        let mut seen: Vec<u64> = completions.iter().map(|c| c.user_data()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..N).collect::<Vec<_>>());
    }
}
