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

use crate::budget::Reservation;
use crate::copy::CapturedRequest;
use crate::host::Host;
use crate::settings::Settings;
use crate::targets::TargetSet;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// How often the root wakes up while there is work: copies of requests completed within one
/// period go out together, and counts tallied meanwhile are handed to Envoy in one go.
pub const WAKE_UP_PERIOD: Duration = Duration::from_millis(1);

/// A complete request, scrubbed, with the targets that want a copy of it, under the
/// settings it was decided with.
pub struct Job {
    pub settings: Rc<Settings>,
    pub targets: TargetSet,
    pub request: CapturedRequest,
    /// `per_copy` bytes of the worker's memory budget for each copy still to be sent: each
    /// copy takes its share along until its response.
    pub reservation: Reservation,
    pub per_copy: usize,
}

#[derive(Default)]
pub struct Outbox {
    // `Cell` rather than `RefCell`: nothing here can fail a borrow and panic.
    jobs: Cell<Vec<Job>>,
    wake_up_armed: Cell<bool>,
}

impl Outbox {
    /// Queues a job and makes sure the root wakes up for it.
    pub fn send(&self, job: Job, host: &impl Host) {
        let mut jobs = self.jobs.take();
        jobs.push(job);
        self.jobs.set(jobs);
        self.wake_root(host);
    }

    /// Makes sure the root's timer runs: called by whoever leaves work (a job, counts) for it.
    /// Arms the timer only when the root was idle.
    pub fn wake_root(&self, host: &impl Host) {
        let was_armed = self.wake_up_armed.replace(true);
        if !was_armed && !host.set_tick_period(WAKE_UP_PERIOD) {
            // Not armed after all: the next piece of work tries again.
            self.wake_up_armed.set(false);
        }
    }

    /// Counts go to Envoy with the next tick when the root is ticking anyway (copies are
    /// flowing), and at once otherwise: arming the timer just for them would cost more than
    /// they do.
    pub fn hand_over_counts(&self, settings: &Settings) {
        if !self.wake_up_armed.get() {
            settings.flush_counts();
        }
    }

    /// Stops the root's timer: nothing is waiting for it.
    pub fn sleep(&self, host: &impl Host) {
        host.set_tick_period(Duration::ZERO);
        self.wake_up_armed.set(false);
    }

    /// Everything queued so far.
    pub fn take_jobs(&self) -> Vec<Job> {
        self.jobs.take()
    }
}
