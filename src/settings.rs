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
