//! Which targets want a copy of a request.

use crate::config::{Target, MAX_TARGETS};

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

    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_TARGETS).filter(move |&index| self.contains(index))
    }
}

/// The sampling verdict for one request, drawn before anything of the request is read so that
/// a request no target wants costs a few random numbers and nothing else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sampling {
    pub wanted: TargetSet,
    pub sampled_out: TargetSet,
}

/// `draw` gives numbers uniform in `0..1_000_000`, one per target that needs one.
pub fn sample_targets(targets: &[Target], mut draw: impl FnMut() -> u32) -> Sampling {
    let mut sampling = Sampling::default();
    for (index, target) in targets.iter().enumerate() {
        if target.sample_rate.sample(&mut draw) {
            sampling.wanted.insert(index);
        } else {
            sampling.sampled_out.insert(index);
        }
    }
    sampling
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::SampleRate;
    use std::time::Duration;

    fn target(rate: SampleRate) -> Target {
        Target {
            cluster: "c".into(),
            name: "n".into(),
            sample_rate: rate,
            timeout: Duration::from_secs(1),
            authority: None,
        }
    }

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
    }

    #[test]
    fn every_target_lands_in_exactly_one_side() {
        let targets = [
            target(SampleRate::ALWAYS),
            target(SampleRate::NEVER),
            target(SampleRate::from_percentage(50.0).unwrap_or(SampleRate::NEVER)),
        ];
        let mut rng = fastrand::Rng::with_seed(1);
        let mut third_wanted = 0;
        for _ in 0..1000 {
            let sampling = sample_targets(&targets, || rng.u32(0..1_000_000));
            assert!(sampling.wanted.contains(0) && sampling.sampled_out.contains(1));
            assert_ne!(
                sampling.wanted.contains(2),
                sampling.sampled_out.contains(2)
            );
            assert_eq!(sampling.wanted.len() + sampling.sampled_out.len(), 3);
            third_wanted += usize::from(sampling.wanted.contains(2));
        }
        assert!((400..=600).contains(&third_wanted), "{third_wanted}");
    }
}
