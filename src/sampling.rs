//! Random sampling: how likely a request is to be copied to one target.

/// Sampling works in parts per million so that percentages with decimals (Istio's
/// `mirrorPercentage` allows them) keep four decimal places, and the request path compares
/// integers instead of floats.
const PARTS_PER_MILLION: u32 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRate(u32);

impl SampleRate {
    pub const ALWAYS: SampleRate = SampleRate(PARTS_PER_MILLION);
    pub const NEVER: SampleRate = SampleRate(0);

    /// `None` unless `percentage` is a number from 0 to 100.
    pub fn from_percentage(percentage: f64) -> Option<SampleRate> {
        if !(0.0..=100.0).contains(&percentage) {
            return None;
        }
        // In range, so the product fits in u32; `as` saturates and cannot panic anyway.
        Some(SampleRate((percentage * 10_000.0).round() as u32))
    }

    /// `draw` is uniform in `0..1_000_000`.
    pub fn admits(self, draw: u32) -> bool {
        draw < self.0
    }

    /// Decides one request; `draw` gives a number uniform in `0..1_000_000`. The edges need no
    /// random number, which keeps a 0% or 100% target free of RNG work on every request.
    pub fn sample(self, draw: impl FnOnce() -> u32) -> bool {
        match self.0 {
            0 => false,
            PARTS_PER_MILLION => true,
            _ => self.admits(draw()),
        }
    }
}

/// A number uniform in `0..1_000_000`, from the VM's thread-local generator.
pub fn random_draw() -> u32 {
    fastrand::u32(0..PARTS_PER_MILLION)
}

/// The draw for consistent sampling: FNV-1a 64 over the salt's bytes followed by the key's
/// bytes, then MurmurHash3's 64-bit finaliser (FNV alone leaves the low digits of similar keys
/// correlated), taken modulo 1,000,000. A key is in when its draw is below the rate, so the
/// same key gets the same answer on every worker, Envoy and version, and raising the
/// percentage only adds keys. This is a documented contract (docs/configuration.md): it never changes.
pub fn keyed_draw(salt: &[u8], key: &[u8]) -> u32 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = salt.iter().chain(key).fold(FNV_OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME)
    });
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    (hash % u64::from(PARTS_PER_MILLION)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_outside_zero_to_hundred_are_rejected() {
        assert_eq!(SampleRate::from_percentage(-0.01), None);
        assert_eq!(SampleRate::from_percentage(100.01), None);
        assert_eq!(SampleRate::from_percentage(f64::NAN), None);
        assert_eq!(SampleRate::from_percentage(f64::INFINITY), None);
    }

    #[test]
    fn edges_are_exact() {
        assert_eq!(SampleRate::from_percentage(0.0), Some(SampleRate::NEVER));
        assert_eq!(SampleRate::from_percentage(100.0), Some(SampleRate::ALWAYS));
        let mut rng = fastrand::Rng::with_seed(7);
        assert!((0..10_000).all(|_| SampleRate::ALWAYS.sample(|| rng.u32(0..PARTS_PER_MILLION))));
        assert!((0..10_000).all(|_| !SampleRate::NEVER.sample(|| rng.u32(0..PARTS_PER_MILLION))));
    }

    #[test]
    fn decimals_keep_four_places() {
        let rate = SampleRate::from_percentage(0.0001).unwrap_or(SampleRate::NEVER);
        assert!(rate.admits(0));
        assert!(!rate.admits(1));
        let rate = SampleRate::from_percentage(12.5).unwrap_or(SampleRate::NEVER);
        assert!(rate.admits(124_999));
        assert!(!rate.admits(125_000));
    }

    #[test]
    fn keyed_draws_are_fixed_forever() {
        // Other tools reproduce decisions from these: a change here breaks users' sessions.
        // Expected values from an independent implementation (docs/configuration.md, Consistent sampling).
        assert_eq!(keyed_draw(b"", b""), 514_342);
        assert_eq!(keyed_draw(b"", b"user-1"), 785_477);
        assert_eq!(keyed_draw(b"salt", b"user-1"), 98_924);
    }

    #[test]
    fn keyed_sampling_is_stable_monotonic_and_salted() {
        let rate = |p| SampleRate::from_percentage(p).unwrap_or(SampleRate::NEVER);
        let keys: Vec<String> = (0..10_000).map(|i| format!("user-{i}")).collect();
        let chosen = |salt: &[u8], percentage| -> Vec<&String> {
            keys.iter()
                .filter(|k| rate(percentage).admits(keyed_draw(salt, k.as_bytes())))
                .collect()
        };
        let at_30 = chosen(b"", 30.0);
        assert!((2_800..=3_200).contains(&at_30.len()), "{}", at_30.len());
        assert_eq!(at_30, chosen(b"", 30.0), "same keys every time");
        let at_60 = chosen(b"", 60.0);
        assert!(
            at_30.iter().all(|k| at_60.contains(k)),
            "raising the percentage only adds keys"
        );
        let salted = chosen(b"other-target", 30.0);
        let both = at_30.iter().filter(|k| salted.contains(k)).count();
        // Independent sets overlap by about 30% of 30%: 900 of 10,000.
        assert!((700..=1_100).contains(&both), "{both}");
    }

    #[test]
    fn sampled_share_tracks_the_percentage() {
        let mut rng = fastrand::Rng::with_seed(42);
        let rate = SampleRate::from_percentage(30.0).unwrap_or(SampleRate::NEVER);
        let admitted = (0..100_000)
            .filter(|_| rate.sample(|| rng.u32(0..PARTS_PER_MILLION)))
            .count();
        // 30% of 100k has a standard deviation of about 145; 6 sigma either way.
        assert!((29_130..=30_870).contains(&admitted), "{admitted}");
    }
}
