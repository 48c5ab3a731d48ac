//! A validated configuration together with its counters: what requests are decided under.
//!
//! Jobs and in-flight copies hold on to the settings they started with, so a new
//! configuration never re-labels or loses them.

use crate::config::Config;
use crate::decide::TargetSet;
use crate::metrics::{Counter, TargetCounters};

pub struct Settings {
    pub config: Config,
    counters: Vec<TargetCounters>,
}

impl Settings {
    /// Defines every target's counters in the host.
    pub fn define(config: Config) -> Result<Settings, String> {
        let counters = config
            .targets
            .iter()
            .map(|target| {
                TargetCounters::define_in_host(&target.name).map_err(|status| {
                    format!(
                        "cannot define the metrics of target {}: {status:?}",
                        target.name
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Settings { config, counters })
    }

    pub fn count(&self, targets: TargetSet, counter: Counter) {
        targets
            .iter()
            .for_each(|index| self.count_one(index, counter));
    }

    pub fn count_one(&self, target: usize, counter: Counter) {
        if let Some(counters) = self.counters.get(target) {
            counters.add(counter);
        }
    }

    /// Hands the counts tallied so far to the host; true if there were any.
    pub fn flush_counts(&self) -> bool {
        self.counters
            .iter()
            .fold(false, |any, counters| counters.flush_to_host() | any)
    }
}

impl Drop for Settings {
    /// The last job or copy of a replaced configuration is done: its counts still go out.
    fn drop(&mut self) {
        self.flush_counts();
    }
}
