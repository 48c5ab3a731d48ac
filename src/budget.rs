//! The worker's memory budget for copies: every byte held for a copy, from the first byte
//! captured until the copy's response, is reserved here first.
//!
//! A request is captured into the VM (headers, body chunks), queued for the root, then handed
//! to Envoy once per copy, where it stays until the copy is answered. All of that is memory a
//! client can make the worker hold (slow uploads that never finish, a target that never
//! answers), so it is bounded per worker by `body.max_buffered_bytes`: a capture that would go
//! over is given up (`skipped_memory_budget`), never the original. The VM's allocator aborts
//! when the VM runs out of memory, so the budget is what keeps it well below that limit.
//!
//! A `Reservation` gives its bytes back when it is dropped, so no path (a skip, an abandoned
//! request, a dispatch Envoy refuses, a replaced configuration) can leak budget. Pieces of a
//! reservation can be split off to follow one copy each until its response; the response
//! comparison will reserve the originals it keeps waiting for their copy the same way.

use std::cell::Cell;
use std::rc::Rc;

/// How many bytes one worker may hold for copies, and how many it holds now.
#[derive(Debug, Default)]
pub struct Budget {
    limit: Cell<usize>,
    used: Cell<usize>,
}

impl Budget {
    pub fn new(limit: usize) -> Rc<Budget> {
        Rc::new(Budget {
            limit: Cell::new(limit),
            used: Cell::new(0),
        })
    }

    /// A new configuration's limit applies to what is reserved from now on; what is held
    /// already stays held until it is released.
    pub fn set_limit(&self, limit: usize) {
        self.limit.set(limit);
    }

    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// An empty reservation, to grow as a request is captured.
    pub fn reservation(self: &Rc<Budget>) -> Reservation {
        Reservation {
            budget: Rc::clone(self),
            bytes: 0,
        }
    }

    fn take(&self, bytes: usize) -> bool {
        let used = self.used.get();
        match used.checked_add(bytes) {
            Some(total) if total <= self.limit.get() => {
                self.used.set(total);
                true
            }
            _ => false,
        }
    }

    fn give_back(&self, bytes: usize) {
        self.used.set(self.used.get().saturating_sub(bytes));
    }
}

/// The refusal of a reservation: the budget would be exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget;

/// Bytes held against a budget; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Rc<Budget>,
    bytes: usize,
}

impl Reservation {
    /// Reserves `more` bytes, or nothing if that would exceed the budget.
    pub fn grow(&mut self, more: usize) -> Result<(), OverBudget> {
        if self.budget.take(more) {
            self.bytes += more;
            Ok(())
        } else {
            Err(OverBudget)
        }
    }

    /// Moves up to `bytes` of this reservation into a new one (held by one copy until its
    /// response); the budget's total does not change.
    pub fn split_off(&mut self, bytes: usize) -> Reservation {
        let moved = bytes.min(self.bytes);
        self.bytes -= moved;
        Reservation {
            budget: Rc::clone(&self.budget),
            bytes: moved,
        }
    }

    /// Grows or shrinks this reservation to exactly `bytes`; growing may be refused.
    pub fn resize(&mut self, bytes: usize) -> Result<(), OverBudget> {
        if bytes > self.bytes {
            self.grow(bytes - self.bytes)
        } else {
            self.budget.give_back(self.bytes - bytes);
            self.bytes = bytes;
            Ok(())
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_beyond_the_limit_are_refused_and_take_nothing() {
        let budget = Budget::new(100);
        let mut a = budget.reservation();
        assert_eq!(a.grow(60), Ok(()));
        let mut b = budget.reservation();
        assert_eq!(b.grow(41), Err(OverBudget));
        assert_eq!((b.bytes(), budget.used()), (0, 60));
        assert_eq!(b.grow(40), Ok(()));
        assert_eq!(budget.used(), 100);
        assert_eq!(a.grow(usize::MAX), Err(OverBudget), "no overflow");
    }

    #[test]
    fn dropping_a_reservation_gives_its_bytes_back() {
        let budget = Budget::new(100);
        let mut a = budget.reservation();
        a.grow(70).unwrap();
        drop(a);
        assert_eq!(budget.used(), 0);
        assert!(budget.reservation().grow(100).is_ok());
    }

    #[test]
    fn split_off_pieces_follow_their_copy_and_are_given_back_one_by_one() {
        let budget = Budget::new(100);
        let mut job = budget.reservation();
        job.grow(90).unwrap();
        let first = job.split_off(30);
        let second = job.split_off(30);
        let too_much = job.split_off(1000);
        assert_eq!((job.bytes(), too_much.bytes()), (0, 30));
        drop(job);
        assert_eq!(budget.used(), 90, "the copies still hold theirs");
        drop(first);
        drop(too_much);
        assert_eq!(budget.used(), 30);
        drop(second);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn resize_gives_back_or_asks_for_the_difference() {
        let budget = Budget::new(100);
        let mut a = budget.reservation();
        a.grow(80).unwrap();
        a.resize(30).unwrap();
        assert_eq!(budget.used(), 30);
        assert_eq!(a.resize(101), Err(OverBudget));
        assert_eq!((a.bytes(), budget.used()), (30, 30));
        a.resize(100).unwrap();
        assert_eq!(budget.used(), 100);
    }

    #[test]
    fn a_lower_limit_refuses_new_bytes_and_keeps_the_held_ones() {
        let budget = Budget::new(100);
        let mut held = budget.reservation();
        held.grow(80).unwrap();
        budget.set_limit(50);
        assert_eq!(budget.reservation().grow(1), Err(OverBudget));
        drop(held);
        assert!(budget.reservation().grow(50).is_ok());
    }
}
