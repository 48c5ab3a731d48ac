//! The hand-over from HTTP contexts to the root context.
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

use std::cell::Cell;

pub struct Outbox<Job> {
    // `Cell` rather than `RefCell`: nothing here can fail a borrow and panic.
    jobs: Cell<Vec<Job>>,
    wake_up_armed: Cell<bool>,
}

impl<Job> Default for Outbox<Job> {
    fn default() -> Self {
        Outbox {
            jobs: Cell::new(Vec::new()),
            wake_up_armed: Cell::new(false),
        }
    }
}

impl<Job> Outbox<Job> {
    /// Queues a job; the caller then makes sure the root's wake-up is armed.
    pub fn push(&self, job: Job) {
        let mut jobs = self.jobs.take();
        jobs.push(job);
        self.jobs.set(jobs);
    }

    /// Work (a job, counts to hand over) waits for the root. Returns true when the caller must
    /// arm the root's wake-up: it was idle.
    #[must_use]
    pub fn claim_wake_up(&self) -> bool {
        !self.wake_up_armed.replace(true)
    }

    /// Whether the root's timer is running (so it will tick again soon).
    pub fn wake_up_armed(&self) -> bool {
        self.wake_up_armed.get()
    }

    /// The wake-up is off: it could not be armed, or the root disarmed it when idle.
    pub fn disarmed(&self) {
        self.wake_up_armed.set(false);
    }

    /// Everything queued so far.
    pub fn take_jobs(&self) -> Vec<Job> {
        self.jobs.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_work_arriving_while_idle_arms_the_wake_up() {
        let outbox = Outbox::default();
        outbox.push(1);
        assert!(!outbox.wake_up_armed());
        assert!(outbox.claim_wake_up());
        assert!(outbox.wake_up_armed());
        outbox.push(2);
        assert!(!outbox.claim_wake_up());
        assert_eq!(outbox.take_jobs(), [1, 2]);
        // Still armed: the root keeps ticking while there is work.
        outbox.push(3);
        assert!(!outbox.claim_wake_up());
        assert_eq!(outbox.take_jobs(), [3]);
        assert!(outbox.take_jobs().is_empty());
        outbox.disarmed();
        assert!(outbox.claim_wake_up());
    }

    #[test]
    fn a_failed_arming_is_retried_by_the_next_claim() {
        let outbox: Outbox<()> = Outbox::default();
        assert!(outbox.claim_wake_up());
        outbox.disarmed();
        assert!(outbox.claim_wake_up());
    }
}
