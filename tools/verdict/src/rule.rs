//! Diffy's rule, as the plugin applies it (src/compare/report.rs): over a window, for a field
//! of an endpoint that differed `raw` times against its reference and `noise` times between
//! the reference and the noise baseline, in `compared` comparisons of that endpoint,
//!
//! ```text
//! relative = |raw - noise| / (raw + noise) * 100
//! absolute = |raw - noise| / compared * 100
//! fails when relative > relative_threshold and absolute > absolute_threshold
//! ```
//!
//! Without a noise baseline `noise` is 0, so every difference above the absolute threshold
//! fails. envoy/rollouts/ states the same rule in PromQL.

/// The two thresholds, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub relative: f64,
    pub absolute: f64,
}

/// How one field measures against the rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// |raw - noise| / (raw + noise), percent; None when neither ever differed.
    pub relative: Option<f64>,
    /// |raw - noise| / compared, percent; None when nothing was compared.
    pub absolute: Option<f64>,
    pub fails: bool,
}

pub fn judge(raw: f64, noise: f64, compared: f64, thresholds: Thresholds) -> Judgement {
    let difference = (raw - noise).abs();
    let total = raw + noise;
    let relative = (total > 0.0).then(|| 100.0 * difference / total);
    let absolute = (compared > 0.0).then(|| 100.0 * difference / compared);
    let fails = matches!((relative, absolute), (Some(r), Some(a))
        if r > thresholds.relative && a > thresholds.absolute);
    Judgement {
        relative,
        absolute,
        fails,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: Thresholds = Thresholds {
        relative: 20.0,
        absolute: 0.03,
    };

    #[test]
    fn a_difference_without_noise_fails() {
        let judgement = judge(5.0, 0.0, 200.0, DEFAULTS);
        assert_eq!(judgement.relative, Some(100.0));
        assert_eq!(judgement.absolute, Some(2.5));
        assert!(judgement.fails);
    }

    #[test]
    fn a_difference_the_baseline_shows_as_much_is_noise() {
        assert!(
            !judge(100.0, 90.0, 200.0, DEFAULTS).fails,
            "relative 5.3% <= 20%"
        );
        assert!(
            judge(100.0, 60.0, 200.0, DEFAULTS).fails,
            "relative 25% > 20%"
        );
    }

    #[test]
    fn both_thresholds_must_be_exceeded_strictly() {
        // relative 100%, absolute exactly 0.03%: not more than the threshold.
        assert!(!judge(3.0, 0.0, 10_000.0, DEFAULTS).fails);
        assert!(judge(4.0, 0.0, 10_000.0, DEFAULTS).fails);
        // relative exactly 20%.
        assert!(!judge(60.0, 40.0, 100.0, DEFAULTS).fails);
        let loose = Thresholds {
            relative: 50.0,
            absolute: 10.0,
        };
        assert!(!judge(5.0, 0.0, 100.0, loose).fails, "absolute 5% <= 10%");
    }

    #[test]
    fn nothing_differed_or_nothing_compared_never_fails() {
        let judgement = judge(0.0, 0.0, 100.0, DEFAULTS);
        assert_eq!(judgement.relative, None);
        assert!(!judgement.fails);
        let judgement = judge(3.0, 0.0, 0.0, DEFAULTS);
        assert_eq!(judgement.absolute, None);
        assert!(!judgement.fails);
    }
}
