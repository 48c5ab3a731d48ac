//! Sets of targets: which of a configuration's targets a request, a decision or a copy
//! concerns.

use crate::config::MAX_TARGETS;

/// A set of target indexes. Config allows at most 16 targets, so a bitmask does it without
/// allocating on the request path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetSet(u16);

const _: () = assert!(MAX_TARGETS <= u16::BITS as usize);

impl TargetSet {
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn insert(&mut self, index: usize) {
        if index < MAX_TARGETS {
            self.0 |= 1 << index;
        }
    }

    pub fn contains(self, index: usize) -> bool {
        index < MAX_TARGETS && self.0 & (1 << index) != 0
    }

    /// The members, lowest first. Only the set bits are visited: every request walks
    /// several sets, most of them empty (its refusals, for one), and a walk over all 16
    /// indexes each time cost more than the decisions themselves.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            let index = rest.trailing_zeros() as usize;
            // Clears the lowest set bit (nothing when `rest` is 0: then the walk is over).
            rest &= rest.wrapping_sub(1);
            (index < MAX_TARGETS).then_some(index)
        })
    }

    pub fn remove(&mut self, index: usize) {
        if index < MAX_TARGETS {
            self.0 &= !(1 << index);
        }
    }

    pub fn union(self, other: TargetSet) -> TargetSet {
        TargetSet(self.0 | other.0)
    }
}

/// The targets that get copies of one request, and how many: each its `amplify`, except the
/// carried ones (reference targets of a comparison), which get one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copies {
    pub targets: TargetSet,
    /// A subset of `targets`.
    pub carried: TargetSet,
}

impl Copies {
    pub fn count(self, index: usize, amplify: u32) -> u32 {
        if self.carried.contains(index) {
            1
        } else {
            amplify
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_holds_exactly_what_was_inserted() {
        let mut set = TargetSet::default();
        assert!(set.is_empty());
        set.insert(0);
        set.insert(15);
        set.insert(16); // out of range: ignored rather than wrapping onto another target
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 15]);
        assert_eq!(set.len(), 2);
        assert!(set.contains(15) && !set.contains(1) && !set.contains(16));
        let mut full = TargetSet::default();
        (0..MAX_TARGETS).rev().for_each(|index| full.insert(index));
        assert!(full.iter().eq(0..MAX_TARGETS), "every member, lowest first");
        assert_eq!(TargetSet::default().iter().next(), None);
    }
}
