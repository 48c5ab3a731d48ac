//! The hand-over from HTTP contexts to the root context.
//!
//! Copies are dispatched by the root context, never by the request's own context: Envoy cancels
//! a context's outstanding calls when its stream ends, and the SDK drops a call's response when
//! the context that made it is gone. A root context outlives every request, so copies run to
//! completion and their outcome is always counted. The root is woken by its tick timer, armed
//! only by the first job after a drain: re-arming per request would re-create the timer each
//! time and could starve it.

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
    /// Queues a job. Returns true when the caller must arm the root's wake-up.
    #[must_use]
    pub fn push(&self, job: Job) -> bool {
        let mut jobs = self.jobs.take();
        jobs.push(job);
        self.jobs.set(jobs);
        !self.wake_up_armed.replace(true)
    }

    /// The wake-up could not be armed: let the next push try again.
    pub fn wake_up_failed(&self) {
        self.wake_up_armed.set(false);
    }

    /// Everything queued so far; the next push arms a new wake-up.
    pub fn drain(&self) -> Vec<Job> {
        self.wake_up_armed.set(false);
        self.jobs.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_job_after_a_drain_arms_the_wake_up() {
        let outbox = Outbox::default();
        assert!(outbox.push(1));
        assert!(!outbox.push(2));
        assert!(!outbox.push(3));
        assert_eq!(outbox.drain(), [1, 2, 3]);
        assert!(outbox.push(4));
        assert_eq!(outbox.drain(), [4]);
        assert!(outbox.drain().is_empty());
    }

    #[test]
    fn a_failed_arming_is_retried_by_the_next_push() {
        let outbox = Outbox::default();
        assert!(outbox.push("a"));
        outbox.wake_up_failed();
        assert!(outbox.push("b"));
        assert_eq!(outbox.drain(), ["a", "b"]);
    }
}
