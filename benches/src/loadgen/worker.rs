//! One event-loop thread: a mio `Poll` and its share of the connections.
//!
//! Each connection is registered once for both readable and writable readiness
//! and never re-registered: mio is edge-triggered, so a wake-up means "something
//! changed", we read until the socket has nothing more (or until a short read),
//! and we only write when there is something to write. The clock is read once per
//! batch of events, not once per response.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::report::ThreadTally;
use super::response::ResponseReader;
use super::{LoadConfig, Mode};

/// Size of the one read buffer each thread shares among its connections.
const READ_BUFFER: usize = 256 * 1024;

/// What every thread reads and nobody writes: the config and the encoded bytes.
pub(crate) struct Plan<'a> {
    config: &'a LoadConfig,
    /// The request repeated `pipeline` times, so a batch is one `write`.
    batch: Vec<u8>,
    /// Length of one request inside `batch`.
    request_len: usize,
    /// Requests per second for each thread in open-loop mode.
    thread_rate: Option<f64>,
}

impl<'a> Plan<'a> {
    /// Encodes the request once for a run split over `threads` threads.
    pub(crate) fn new(config: &'a LoadConfig, threads: usize) -> Self {
        let one = config
            .request
            .encode(&config.target, config.mode == Mode::NewConnection);
        Plan {
            config,
            batch: one.repeat(config.pipeline),
            request_len: one.len(),
            thread_rate: match config.mode {
                Mode::Rate(r) => Some(r / threads as f64),
                _ => None,
            },
        }
    }
}

/// One connection slot. With `--new-conn` the slot outlives its connections.
struct Slot {
    stream: Option<TcpStream>,
    /// The TCP handshake finished (mio connects without blocking).
    connected: bool,
    /// When the current connect started, for the connect timeout.
    opened_at: Instant,
    /// Requests written and not yet answered: (latency start, actual send time).
    /// They differ only in open-loop mode, where latency starts at the schedule.
    in_flight: VecDeque<(Instant, Instant)>,
    /// Bytes `batch[write_at..write_end]` still have to be written.
    write_at: usize,
    write_end: usize,
    reader: ResponseReader,
    /// Requests this slot may still issue (`u64::MAX` in timed runs).
    left: u64,
    /// Already on the open-loop idle list (avoids duplicates).
    idle_listed: bool,
    /// This client got at least one complete response during the run: a slot that never
    /// did was starved, whatever the success rate of the others says.
    served: bool,
}

/// How a request or connection failed, i.e. which counter it goes to.
#[derive(Clone, Copy)]
enum Failure {
    Reset,
    Timeout,
    BadResponse,
}

struct Worker<'p, 'c> {
    plan: &'p Plan<'c>,
    poll: Poll,
    slots: Vec<Slot>,
    tally: ThreadTally,
    /// Slots that need a (new) connection; handled at the top of the loop so a
    /// connect that fails at once cannot recurse.
    to_open: Vec<usize>,
    /// Open-loop: slots that can take one more request now.
    idle: Vec<usize>,
    /// Open-loop: requests issued so far; the next is due at `t0 + sent * interval`.
    paced: u64,
    start: Instant,
    deadline: Instant,
    /// Bounded (`-n`) runs end when every slot is done, not at a deadline.
    bounded: bool,
    /// Slots with work left (bounded runs).
    active: usize,
}

/// Runs `connections` connections on this thread until the run ends.
pub(crate) fn run_thread(
    plan: &Plan<'_>,
    connections: usize,
    start: Instant,
) -> Result<ThreadTally, String> {
    let config = plan.config;
    if let Some(cpus) = &config.cpus {
        // Not fatal: an unpinned run is still a run, the bench header says what was asked.
        let _ = crate::os::pin(0, cpus);
    }
    let poll = Poll::new().map_err(|e| format!("cannot create a poller: {e}"))?;
    let left = config.requests_per_connection.unwrap_or(u64::MAX);
    let slots = (0..connections)
        .map(|_| Slot {
            stream: None,
            connected: false,
            opened_at: start,
            in_flight: VecDeque::with_capacity(config.pipeline),
            write_at: 0,
            write_end: 0,
            reader: ResponseReader::new(config.request.is_head()),
            left,
            idle_listed: false,
            served: false,
        })
        .collect();
    let mut worker = Worker {
        plan,
        poll,
        slots,
        tally: ThreadTally::new(),
        to_open: (0..connections).collect(),
        idle: Vec::with_capacity(connections),
        paced: 0,
        start,
        deadline: start + config.duration,
        bounded: config.requests_per_connection.is_some(),
        active: connections,
    };
    worker
        .event_loop()
        .map_err(|e| format!("event loop failed: {e}"))?;
    Ok(worker.tally)
}

impl Worker<'_, '_> {
    fn event_loop(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; READ_BUFFER];
        // How often in-flight requests are checked against the timeout.
        let scan_every = (self.plan.config.timeout / 10)
            .clamp(Duration::from_millis(5), Duration::from_millis(100));
        let mut next_scan = self.start + scan_every;
        loop {
            let now = Instant::now();
            if (self.bounded && self.active == 0) || (!self.bounded && now >= self.deadline) {
                break;
            }
            for i in std::mem::take(&mut self.to_open) {
                self.open(i, now);
            }
            if now >= next_scan {
                self.expire(now);
                next_scan = now + scan_every;
            }
            if self.plan.thread_rate.is_some() {
                self.dispatch_paced(now);
            }
            let mut wait = next_scan.saturating_duration_since(now);
            if !self.bounded {
                wait = wait.min(self.deadline.saturating_duration_since(now));
            }
            if !self.to_open.is_empty() {
                // A connect failed at once: retry soon, without spinning.
                wait = wait.min(Duration::from_millis(1));
            }
            if let Some(due) = self.next_paced() {
                wait = wait.min(due.saturating_duration_since(now));
            }
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            for event in events.iter() {
                let i = event.token().0;
                if self.slots[i].stream.is_none() {
                    continue; // A stale event for a connection closed in this batch.
                }
                if !self.slots[i].connected && !self.finish_connect(i, now) {
                    continue;
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read(i, &mut buf, event.is_read_closed(), now);
                }
                if event.is_writable() && self.slots[i].stream.is_some() {
                    self.flush(i);
                }
            }
        }
        for slot in &self.slots {
            self.tally.unfinished += slot.in_flight.len() as u64;
            self.tally.served_connections += u64::from(slot.served);
        }
        if let Some(rate) = self.plan.thread_rate {
            // Requests that were due but never sent (no free connection): the
            // server was too slow for the rate; they were not answered either.
            let due = (self
                .deadline
                .saturating_duration_since(self.start)
                .as_secs_f64()
                * rate) as u64;
            self.tally.unfinished += due.saturating_sub(self.paced);
        }
        Ok(())
    }

    /// Starts a connection for slot `i`, or retires the slot when its work is done.
    fn open(&mut self, i: usize, now: Instant) {
        let config = self.plan.config;
        let slot = &mut self.slots[i];
        let work_left = slot.left > 0 && (self.bounded || now < self.deadline);
        if !work_left {
            if self.bounded && slot.in_flight.is_empty() {
                self.active -= 1;
            }
            return;
        }
        slot.reader.reset();
        slot.connected = false;
        slot.opened_at = now;
        slot.write_at = 0;
        slot.write_end = 0;
        if config.mode == Mode::NewConnection {
            // The request's latency includes the handshake: that is the point.
            slot.in_flight.push_back((now, now));
            slot.left -= 1;
            slot.write_end = self.plan.request_len;
        }
        let mut stream = match TcpStream::connect(config.target.addr) {
            Ok(s) => s,
            Err(e) => return self.connect_failed(i, e),
        };
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.connect_failed(i, e);
        }
        self.slots[i].stream = Some(stream);
    }

    /// Checks a pending non-blocking connect; true once connected.
    fn finish_connect(&mut self, i: usize, now: Instant) -> bool {
        let stream = self.slots[i].stream.as_ref().expect("checked by caller");
        match stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => {
                self.connect_failed(i, e);
                return false;
            }
        }
        match stream.peer_addr() {
            Ok(_) => {}
            // Woken before the handshake finished (a spurious or stale event).
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return false,
            Err(e) => {
                self.connect_failed(i, e);
                return false;
            }
        }
        // Small requests must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        self.slots[i].connected = true;
        self.next_request(i, now);
        true
    }

    /// Counts a failed connect (or registration) and schedules a retry.
    fn connect_failed(&mut self, i: usize, e: io::Error) {
        let slot = &mut self.slots[i];
        slot.stream = None;
        let failed = if slot.in_flight.is_empty() {
            // Closed loop: the connect was for the next request, which now cannot go.
            slot.left = slot.left.saturating_sub(1);
            1
        } else {
            let n = slot.in_flight.len() as u64;
            slot.in_flight.clear();
            n
        };
        let outcomes = &mut self.tally.outcomes;
        match e.kind() {
            io::ErrorKind::ConnectionRefused => outcomes.connect_refused += failed,
            io::ErrorKind::TimedOut => outcomes.connect_timeout += failed,
            _ => outcomes.connect_other += failed,
        }
        self.tally.note_error(|| format!("connect: {e}"));
        self.to_open.push(i);
    }

    /// Drops slot `i`'s connection, counting its unanswered requests as `failure`.
    fn lose_connection(&mut self, i: usize, failure: Failure, why: impl FnOnce() -> String) {
        let slot = &mut self.slots[i];
        let lost = slot.in_flight.len() as u64;
        slot.in_flight.clear();
        slot.stream = None;
        if lost > 0 {
            let outcomes = &mut self.tally.outcomes;
            match failure {
                Failure::Reset => outcomes.reset += lost,
                Failure::Timeout => outcomes.timeout += lost,
                Failure::BadResponse => outcomes.bad_response += lost,
            }
            self.tally.note_error(why);
        }
        self.to_open.push(i);
    }

    /// Reads everything the socket has, counting each response as it completes.
    fn read(&mut self, i: usize, buf: &mut [u8], peer_closed: bool, now: Instant) {
        let mut server_closes = false;
        let mut unsolicited = false;
        loop {
            let slot = &mut self.slots[i];
            let Some(stream) = slot.stream.as_mut() else {
                return;
            };
            let n = match stream.read(buf) {
                Ok(0) => {
                    let mid = slot.reader.mid_response();
                    return self.lose_connection(i, Failure::Reset, || {
                        format!(
                            "connection closed by the server{}",
                            if mid { " mid-response" } else { "" }
                        )
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.lose_connection(i, Failure::Reset, || format!("read: {e}")),
            };
            self.tally.bytes_read += n as u64;
            let tally = &mut self.tally;
            let in_flight = &mut slot.in_flight;
            let served = &mut slot.served;
            let fed = slot.reader.feed(&buf[..n], |resp| {
                server_closes |= resp.close;
                match in_flight.pop_front() {
                    Some((started, _)) => {
                        *served = true;
                        tally.record_response(resp.status, now.saturating_duration_since(started))
                    }
                    None => unsolicited = true,
                }
            });
            if let Err(bad) = fed {
                return self.lose_connection(i, Failure::BadResponse, || {
                    format!("bad response: {}", bad.0)
                });
            }
            if unsolicited {
                self.tally.outcomes.bad_response += 1;
                return self.lose_connection(i, Failure::BadResponse, || {
                    "a response nobody asked for".into()
                });
            }
            // A short read drained the socket; the next data brings a new edge. Unless
            // the peer already closed: then read on to see the end of the stream.
            if n < buf.len() && !peer_closed {
                break;
            }
        }
        let slot = &self.slots[i];
        if slot.in_flight.is_empty() && slot.write_at == slot.write_end {
            if server_closes || self.plan.config.mode == Mode::NewConnection {
                self.slots[i].stream = None;
                self.to_open.push(i);
            } else {
                self.next_request(i, now);
            }
        } else if self.plan.thread_rate.is_some() && !server_closes {
            self.mark_idle(i);
        }
    }

    /// Decides what an idle, connected slot does next.
    fn next_request(&mut self, i: usize, now: Instant) {
        let config = self.plan.config;
        let slot = &mut self.slots[i];
        match config.mode {
            // The request was queued when the connection was opened.
            Mode::NewConnection => self.flush(i),
            Mode::Rate(_) => self.mark_idle(i),
            Mode::Closed => {
                if slot.left == 0 || (!self.bounded && now >= self.deadline) {
                    slot.stream = None;
                    if self.bounded {
                        self.active -= 1;
                    }
                    return;
                }
                let k = (config.pipeline as u64).min(slot.left) as usize;
                slot.left -= k as u64;
                for _ in 0..k {
                    slot.in_flight.push_back((now, now));
                }
                slot.write_at = 0;
                slot.write_end = k * self.plan.request_len;
                self.flush(i);
            }
        }
    }

    /// Writes as much of the pending bytes as the socket takes.
    fn flush(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        while slot.write_at < slot.write_end {
            let Some(stream) = slot.stream.as_mut() else {
                return;
            };
            match stream.write(&self.plan.batch[slot.write_at..slot.write_end]) {
                Ok(n) => slot.write_at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.lose_connection(i, Failure::Reset, || format!("write: {e}")),
            }
        }
        if self.plan.thread_rate.is_some() {
            self.mark_idle(i);
        }
    }

    /// Open loop: offers slot `i` for the next scheduled request if it can take one.
    fn mark_idle(&mut self, i: usize) {
        let pipeline = self.plan.config.pipeline;
        let slot = &mut self.slots[i];
        let free = slot.connected
            && slot.stream.is_some()
            && slot.write_at == slot.write_end
            && slot.in_flight.len() < pipeline;
        if free && !slot.idle_listed {
            slot.idle_listed = true;
            self.idle.push(i);
        }
    }

    /// Open loop: when the next request is due, if a connection is free to take it.
    fn next_paced(&self) -> Option<Instant> {
        let rate = self.plan.thread_rate?;
        (!self.idle.is_empty())
            .then(|| self.start + Duration::from_secs_f64(self.paced as f64 / rate))
    }

    /// Open loop: sends every request whose scheduled time has come, as long as a
    /// connection is free. Late requests keep their scheduled time as latency start.
    fn dispatch_paced(&mut self, now: Instant) {
        while let Some(due) = self.next_paced() {
            if due > now || due >= self.deadline {
                return;
            }
            let i = self.idle.pop().expect("next_paced checked");
            let slot = &mut self.slots[i];
            slot.idle_listed = false;
            if !(slot.connected && slot.stream.is_some() && slot.write_at == slot.write_end) {
                continue; // Stale entry: the connection changed since it was listed.
            }
            slot.in_flight.push_back((due, now));
            slot.write_at = 0;
            slot.write_end = self.plan.request_len;
            self.paced += 1;
            self.flush(i);
        }
    }

    /// Times out connects and requests that took longer than the timeout.
    fn expire(&mut self, now: Instant) {
        let timeout = self.plan.config.timeout;
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            if slot.stream.is_none() {
                continue;
            }
            if !slot.connected {
                if now.saturating_duration_since(slot.opened_at) > timeout {
                    let e = io::Error::new(io::ErrorKind::TimedOut, "TCP handshake timed out");
                    self.connect_failed(i, e);
                }
            } else if let Some(&(_, sent)) = slot.in_flight.front() {
                if now.saturating_duration_since(sent) > timeout {
                    self.lose_connection(i, Failure::Timeout, || {
                        format!("no response within {timeout:?}")
                    });
                }
            }
        }
    }
}
