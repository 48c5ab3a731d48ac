//! The hand-over from HTTP contexts to the root context: complete requests (jobs) and counts.
//!
//! Copies are dispatched by the root context, never by the request's own context: Envoy cancels
//! a context's outstanding calls when its stream ends, and the SDK drops a call's response when
//! the context that made it is gone. A root context outlives every request, so copies run to
//! completion and their outcome is always counted.
//!
//! The root is woken by its tick timer, which is armed only when work arrives while it is idle:
//! Envoy re-creates the timer on every arming, so arming per request would cost a host call
//! each time and could starve the timer. While there is work the timer keeps ticking; the
//! root disarms it after a tick that finds nothing to do.

use crate::body_jobs::Unredacted;
use crate::budget::Reservation;
use crate::compare::response::Finished;
use crate::copy::CapturedRequest;
use crate::host::Host;
use crate::settings::Settings;
use crate::targets::Copies;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// How often the root wakes up while there is work: copies of requests completed within one
/// period go out together, and counts tallied meanwhile are handed to Envoy in one go.
pub const WAKE_UP_PERIOD: Duration = Duration::from_millis(1);
/// How often the root wakes up while it only waits: counts to hand over, comparisons pending
/// (to expire them, a second after their copy's timeout) or a summary due. Often enough for
/// metrics and expiry; rarely enough that a quiet sidecar pays one tick a second for all the
/// requests it decides, not one per request.
pub const WAITING_PERIOD: Duration = Duration::from_secs(1);
/// The most jobs (or originals' responses) a list handed back keeps room for: the usual
/// list holds one or a few, so its room is reused by the next request (an allocation less
/// per request), while a burst's large list is let go.
pub const MAX_KEPT_ROOM: usize = 64;

/// The root's timer, as last set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Timer {
    #[default]
    Off,
    /// `WAKE_UP_PERIOD`: work is flowing.
    Fast,
    /// `WAITING_PERIOD`: only waiting.
    Slow,
}

/// A complete request, scrubbed, with the targets that want a copy of it, under the
/// settings it was decided with.
pub struct Job {
    pub settings: Rc<Settings>,
    pub copies: Copies,
    pub request: CapturedRequest,
    /// Names the request's comparisons, when some of its copies are compared.
    pub pairing: Option<u64>,
    /// `per_copy` bytes of the worker's memory budget for each copy still to be sent: each
    /// copy takes its share along until its response.
    pub reservation: Reservation,
    pub per_copy: usize,
}

/// The original's response for the comparisons named `pairing`; `None` when it never
/// completed (the client went away, or it could not be read).
pub struct OriginalResponse {
    pub pairing: u64,
    pub summary: Option<Finished>,
}

#[derive(Default)]
pub struct Outbox {
    // `Cell` rather than `RefCell`: nothing here can fail a borrow and panic.
    jobs: Cell<Vec<Job>>,
    /// Complete requests whose large body the root redacts in slices before sending.
    unredacted: Cell<Vec<Unredacted>>,
    originals: Cell<Vec<OriginalResponse>>,
    timer: Cell<Timer>,
    finishing: Cell<bool>,
    last_pairing_id: Cell<u64>,
}

impl Outbox {
    /// Queues a job and makes sure the root wakes up for it.
    pub fn send(&self, job: Job, host: &impl Host) {
        let mut jobs = self.jobs.take();
        jobs.push(job);
        self.jobs.set(jobs);
        self.wake_root(host);
    }

    /// Queues a request whose body the root redacts in slices before its copies go out.
    pub fn send_unredacted(&self, job: Unredacted, host: &impl Host) {
        let mut jobs = self.unredacted.take();
        jobs.push(job);
        self.unredacted.set(jobs);
        self.wake_root(host);
    }

    /// Hands the original's response over for its comparisons.
    pub fn send_original(&self, pairing: u64, summary: Option<Finished>, host: &impl Host) {
        let mut originals = self.originals.take();
        originals.push(OriginalResponse { pairing, summary });
        self.originals.set(originals);
        self.wake_root(host);
    }

    /// A name for one request's comparisons, unique in this worker.
    pub fn next_pairing_id(&self) -> u64 {
        let id = self.last_pairing_id.get().wrapping_add(1);
        self.last_pairing_id.set(id);
        id
    }

    /// Makes sure the root's timer runs at the working pace: called by whoever leaves work (a
    /// job, an original's response) for it. Sets the timer only when it was not at that pace.
    pub fn wake_root(&self, host: &impl Host) {
        self.set_timer(Timer::Fast, WAKE_UP_PERIOD, host);
    }

    /// Nothing to send, but comparisons wait: the root wakes up at the waiting pace.
    pub fn slow_down(&self, host: &impl Host) {
        self.set_timer(Timer::Slow, WAITING_PERIOD, host);
    }

    fn set_timer(&self, timer: Timer, period: Duration, host: &impl Host) {
        // Not set when the host refuses: the next call tries again.
        if self.timer.get() != timer && host.set_tick_period(period) {
            self.timer.set(timer);
        }
    }

    /// Counts go to Envoy with the root's next tick. When the root is idle, its timer is set
    /// to the waiting pace for them: one timer per second carries the counts of every request
    /// decided meanwhile, where a host call per request (a refusal, say) would cost more than
    /// the decision. A finishing root has no timer: its counts go at once.
    pub fn hand_over_counts(&self, settings: &Settings, host: &impl Host) {
        if self.finishing.get() {
            settings.flush_counts();
        } else if self.timer.get() == Timer::Off {
            self.slow_down(host);
            if self.timer.get() == Timer::Off {
                settings.flush_counts(); // the host refused the timer
            }
        }
    }

    /// The root is finishing: no timer any more, counts go to Envoy as they are made.
    pub fn finish(&self, host: &impl Host) {
        self.sleep(host);
        self.finishing.set(true);
    }

    /// Stops the root's timer: nothing is waiting for it.
    pub fn sleep(&self, host: &impl Host) {
        host.set_tick_period(Duration::ZERO);
        self.timer.set(Timer::Off);
    }

    /// Every job queued so far.
    pub fn take_jobs(&self) -> Vec<Job> {
        self.jobs.take()
    }

    /// A list `take_jobs` gave, its jobs done: emptied, its room is kept for the next jobs.
    pub fn give_back_jobs(&self, spent: Vec<Job>) {
        give_back(&self.jobs, spent);
    }

    /// A list `take_originals` gave, gone through: emptied, its room is kept for the next.
    pub fn give_back_originals(&self, spent: Vec<OriginalResponse>) {
        give_back(&self.originals, spent);
    }

    /// Every request handed over for redaction in slices so far.
    pub fn take_unredacted(&self) -> Vec<Unredacted> {
        self.unredacted.take()
    }

    /// Every original's response handed over so far.
    pub fn take_originals(&self) -> Vec<OriginalResponse> {
        self.originals.take()
    }
}

/// Empties `spent` (dropping what it holds) and keeps it in `list` when `list` has no room of
/// its own yet and `spent`'s is at most `MAX_KEPT_ROOM`; else lets it go.
fn give_back<T>(list: &Cell<Vec<T>>, mut spent: Vec<T>) {
    if spent.capacity() == 0 || spent.capacity() > MAX_KEPT_ROOM {
        return;
    }
    spent.clear();
    let queued = list.take();
    list.set(if queued.capacity() == 0 {
        spent
    } else {
        queued
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_given_back_keeps_its_room_for_the_next_but_never_a_queued_one_nor_a_large_one() {
        let list: Cell<Vec<u32>> = Cell::default();
        let mut taken = Vec::with_capacity(4);
        taken.push(1);
        let room = taken.as_ptr();
        give_back(&list, taken);
        let mut again = list.take();
        assert!(again.is_empty(), "emptied");
        assert_eq!(again.as_ptr(), room, "the same room, no new list");

        // What was queued meanwhile stays.
        list.set(vec![2]);
        again.push(3);
        give_back(&list, again);
        assert_eq!(list.take(), [2]);

        // A burst's list is let go, and so is a list without room.
        give_back(&list, Vec::with_capacity(MAX_KEPT_ROOM + 1));
        assert_eq!(list.take().capacity(), 0);
        give_back(&list, Vec::new());
        assert_eq!(list.take().capacity(), 0);
    }
}
