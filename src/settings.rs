//! A validated configuration together with what each of its targets needs at run time: its
//! metrics, its limits' state, its failure log. This is what requests are decided under.
//!
//! Jobs and in-flight copies hold on to the settings they started with, so a new
//! configuration never re-labels, re-limits or loses them; when the last of them is done, the
//! settings' metrics hand over what they still hold (see `TargetMetrics`' `Drop`).

use crate::config::{Config, Target};
use crate::copy_log::CopyLog;
use crate::host::MetricHost;
use crate::limits::{Limited, Limiter};
use crate::metrics::{Counter, PluginMetrics, TargetMetrics};
use crate::targets::{Copies, TargetSet};
use crate::warnings::FailureLog;

pub struct TargetState {
    pub metrics: TargetMetrics,
    pub limiter: Limiter,
    pub failures: FailureLog,
    pub copy_log: CopyLog,
}

pub struct Settings {
    pub config: Config,
    states: Vec<TargetState>,
    plugin: PluginMetrics,
}

impl Settings {
    /// Defines every target's metrics in the host.
    pub fn define(config: Config, host: MetricHost) -> Result<Settings, String> {
        let states = config
            .targets
            .iter()
            .map(|target| {
                let metrics = TargetMetrics::define(&target.name, target.compare.is_some(), host)
                    .map_err(|status| {
                    format!(
                        "cannot define the metrics of target {}: {status:?}",
                        target.name
                    )
                })?;
                Ok(TargetState {
                    metrics,
                    limiter: Limiter::new(target.max_per_second, target.max_in_flight),
                    failures: FailureLog::default(),
                    copy_log: CopyLog::new(target.containment.copy_log_per_minute),
                })
            })
            .collect::<Result<_, String>>()?;
        let plugin = PluginMetrics::define(host)
            .map_err(|status| format!("cannot define the plugin's metrics: {status:?}"))?;
        Ok(Settings {
            config,
            states,
            plugin,
        })
    }

    /// Counts a request answered 403 for carrying the marker and writing.
    pub fn count_refused_write(&self) {
        self.plugin.refused_marked_write();
    }

    pub fn target(&self, index: usize) -> Option<(&Target, &TargetState)> {
        Some((self.config.targets.get(index)?, self.states.get(index)?))
    }

    pub fn count(&self, targets: TargetSet, counter: Counter) {
        targets
            .iter()
            .for_each(|index| self.count_one(index, counter));
    }

    pub fn count_one(&self, target: usize, counter: Counter) {
        if let Some(state) = self.states.get(target) {
            state.metrics.add(counter);
        }
    }

    /// Admits all of a target's `copies` of one request, or none; `clock` is read only when
    /// the target has a rate limit.
    pub fn admit(
        &self,
        target: usize,
        copies: u32,
        clock: impl Fn() -> u64,
    ) -> Result<(), Limited> {
        match self.states.get(target) {
            Some(state) => {
                let now = if state.limiter.needs_time() {
                    clock()
                } else {
                    0
                };
                state.limiter.admit(now, copies)
            }
            None => Ok(()),
        }
    }

    /// How many copies a request makes: each target's `amplify`, one for a carried target.
    pub fn copy_count(&self, copies: Copies) -> usize {
        copies
            .targets
            .iter()
            .filter_map(|index| Some(copies.count(index, self.config.targets.get(index)?.amplify)))
            .map(|count| count as usize)
            .sum()
    }

    /// Gives back the in-flight slots of copies that will not be sent after all.
    pub fn release_unsent(&self, copies: Copies) {
        for index in copies.targets.iter() {
            if let Some((target, state)) = self.target(index) {
                state.limiter.release(copies.count(index, target.amplify));
            }
        }
    }

    /// Hands the counts tallied so far to the host; true if there were any.
    pub fn flush_counts(&self) -> bool {
        let plugin = self.plugin.flush();
        self.states
            .iter()
            .fold(plugin, |any, state| state.metrics.flush() | any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::recording;
    use std::cell::Cell;

    fn settings(json: &str) -> Settings {
        Settings::define(Config::parse(json.as_bytes()).unwrap(), recording::METRICS).unwrap()
    }

    fn copies(targets: &[usize], carried: &[usize]) -> Copies {
        let set = |indexes: &[usize]| {
            let mut set = TargetSet::default();
            indexes.iter().for_each(|index| set.insert(*index));
            set
        };
        Copies {
            targets: set(targets),
            carried: set(carried),
        }
    }

    const TWO: &str = r#"{"targets": [
        {"cluster": "a", "amplify": 3, "limits": {"max_in_flight": 4, "max_per_second": 100}},
        {"cluster": "b", "limits": {"max_in_flight": 1}}]}"#;

    #[test]
    fn a_request_makes_each_targets_amplify_and_one_per_carried_target() {
        let settings = settings(TWO);
        assert_eq!(settings.copy_count(copies(&[0, 1], &[])), 4);
        assert_eq!(settings.copy_count(copies(&[0, 1], &[0])), 2);
        assert_eq!(settings.copy_count(copies(&[], &[])), 0);
        assert_eq!(settings.copy_count(copies(&[5], &[])), 0, "no such target");
    }

    #[test]
    fn copies_are_admitted_all_together_or_not_at_all_and_unsent_ones_come_back() {
        let settings = settings(TWO);
        let clock_reads = Cell::new(0);
        let clock = || {
            clock_reads.set(clock_reads.get() + 1);
            1_000_000_000
        };
        assert_eq!(settings.admit(0, 3, clock), Ok(()));
        assert_eq!(
            settings.admit(0, 3, clock),
            Err(Limited::InFlight),
            "4 at most"
        );
        assert_eq!(
            clock_reads.get(),
            2,
            "a rate-limited target reads the clock"
        );
        assert_eq!(settings.admit(1, 1, clock), Ok(()));
        assert_eq!(
            clock_reads.get(),
            2,
            "a target without a rate limit does not"
        );
        assert_eq!(settings.admit(1, 1, clock), Err(Limited::InFlight));
        settings.release_unsent(copies(&[0, 1], &[]));
        assert_eq!(settings.admit(0, 3, clock), Ok(()), "all three came back");
        assert_eq!(settings.admit(1, 1, clock), Ok(()));
        settings.release_unsent(copies(&[0], &[0]));
        // A carried copy is one: 2 of 4 in flight now.
        assert_eq!(settings.admit(0, 3, clock), Err(Limited::InFlight));
        assert_eq!(settings.admit(0, 2, clock), Ok(()));
        assert_eq!(
            settings.admit(9, 100, clock),
            Ok(()),
            "no such target: nothing to limit"
        );
    }

    #[test]
    fn counts_wait_for_the_flush_and_are_handed_over_once() {
        let settings = settings(TWO);
        settings.count(copies(&[0, 1], &[]).targets, Counter::SampledOut);
        settings.count_one(1, Counter::SampledOut);
        settings.count_one(7, Counter::SampledOut);
        assert!(
            recording::take_increments().is_empty(),
            "nothing reaches the host yet"
        );
        assert!(settings.flush_counts());
        assert_eq!(recording::take_total("traffic_mirror.a.sampled_out"), 1);
        assert_eq!(recording::take_total("traffic_mirror.b.sampled_out"), 2);
        assert!(!settings.flush_counts(), "nothing left to hand over");
        let (target, _) = settings.target(1).unwrap();
        assert_eq!(target.name, "b");
        assert!(settings.target(2).is_none());
    }
}
