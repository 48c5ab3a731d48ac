//! The command line: `--opt value` or `--opt=value`; anything wrong is an error (exit 3).

use crate::contract;
use crate::http::Url;
use crate::rule::Thresholds;
use crate::source;
use crate::verdict::Policy;

pub const USAGE: &str = "\
usage: traffic-mirror-verdict (--prometheus URL [--window 10m] | --envoy URL...) [options]
  --prometheus URL          Prometheus' base URL: the counters' increase over --window, summed over every pod
  --window DURATION         Prometheus range, e.g. 10m, 1h (default 10m)
  --envoy URL               an Envoy admin base URL, repeatable: the counters as they stand, summed
  --target NAME             a mirror target to judge, repeatable (default: every target seen)
  --min-compared N          comparisons a target needs for a verdict (default 100)
  --relative-threshold P    Diffy's relative threshold, percent (default 20)
  --absolute-threshold P    Diffy's absolute threshold, percent (default 0.03)
  --json                    print one JSON document instead of the table
exit status: 0 pass, 1 fail, 2 insufficient, 3 error; with several targets the worst wins";

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Prometheus { url: Url, window: String },
    Envoys(Vec<Url>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub source: Source,
    pub targets: Vec<String>,
    pub policy: Policy,
    pub json: bool,
}

/// What the command line asks for: the options, or help.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Options),
    Help,
}

pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut prometheus = None;
    let mut window = None;
    let mut envoys = Vec::new();
    let mut targets = Vec::new();
    let mut min_compared = contract::DEFAULT_MIN_COMPARED;
    let mut relative = contract::DEFAULT_RELATIVE_THRESHOLD;
    let mut absolute = contract::DEFAULT_ABSOLUTE_THRESHOLD;
    let mut json = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        if matches!(flag, "-h" | "--help" | "--json") {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            if flag == "--json" {
                json = true;
                continue;
            }
            return Ok(Command::Help);
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))?,
        };
        match flag {
            "--prometheus" => {
                if prometheus.replace(Url::parse(&value)?).is_some() {
                    return Err("--prometheus is given twice".into());
                }
            }
            "--window" => {
                if !source::valid_window(&value) {
                    return Err(format!(
                        "--window {value:?}: expected a Prometheus duration such as 10m or 1h30m"
                    ));
                }
                window = Some(value);
            }
            "--envoy" => envoys.push(Url::parse(&value)?),
            "--target" => {
                if value.is_empty() {
                    return Err("--target needs a name".into());
                }
                targets.push(value);
            }
            "--min-compared" => {
                min_compared = value
                    .parse()
                    .map_err(|_| format!("--min-compared {value:?}: expected a whole number"))?;
            }
            "--relative-threshold" => relative = percent(flag, &value)?,
            "--absolute-threshold" => absolute = percent(flag, &value)?,
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    let source = match (prometheus, envoys.is_empty()) {
        (Some(_), false) => return Err("give --prometheus or --envoy, not both".into()),
        (None, true) => return Err("give --prometheus URL or --envoy URL".into()),
        (Some(url), true) => Source::Prometheus {
            url,
            window: window.unwrap_or_else(|| contract::DEFAULT_WINDOW.to_string()),
        },
        (None, false) => {
            if window.is_some() {
                return Err(
                    "--window applies to --prometheus only: Envoy's counters are totals".into(),
                );
            }
            Source::Envoys(envoys)
        }
    };
    Ok(Command::Run(Options {
        source,
        targets,
        policy: Policy {
            thresholds: Thresholds { relative, absolute },
            min_compared,
        },
        json,
    }))
}

fn percent(flag: &str, value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if p.is_finite() && (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "{flag} {value:?}: expected a percentage from 0 to 100"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Command::Run(options) => Ok(options),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults_are_the_plugin_s() {
        let options = run(&["--prometheus", "http://prom:9090"]).unwrap();
        assert_eq!(options.policy.thresholds.relative, 20.0);
        assert_eq!(options.policy.thresholds.absolute, 0.03);
        assert_eq!(options.policy.min_compared, 100);
        assert!(matches!(options.source, Source::Prometheus { ref window, .. } if window == "10m"));
        assert!(options.targets.is_empty());
        assert!(!options.json);
    }

    #[test]
    fn reads_every_option_in_both_spellings() {
        let options = run(&[
            "--envoy=http://a:15000",
            "--envoy",
            "http://b:15000",
            "--target",
            "canary",
            "--target=v2",
            "--min-compared=5",
            "--relative-threshold",
            "10",
            "--absolute-threshold=0.5",
            "--json",
        ])
        .unwrap();
        assert!(matches!(options.source, Source::Envoys(ref urls) if urls.len() == 2));
        assert_eq!(options.targets, ["canary", "v2"]);
        assert_eq!(options.policy.min_compared, 5);
        assert_eq!(options.policy.thresholds.relative, 10.0);
        assert_eq!(options.policy.thresholds.absolute, 0.5);
        assert!(options.json);
        assert_eq!(run(&["--help"]).unwrap_err(), "help");
    }

    #[test]
    fn refuses_what_makes_no_sense() {
        let cases: [&[&str]; 12] = [
            &[],
            &["--prometheus", "http://p:1", "--envoy", "http://e:1"],
            &["--prometheus", "http://p:1", "--prometheus", "http://q:1"],
            &["--envoy", "http://e:1", "--window", "5m"],
            &["--prometheus", "http://p:1", "--window", "5 minutes"],
            &["--prometheus", "https://p:1"],
            &["--prometheus"],
            &["--prometheus", "http://p:1", "--min-compared", "-1"],
            &["--prometheus", "http://p:1", "--relative-threshold", "NaN"],
            &["--prometheus", "http://p:1", "--absolute-threshold", "101"],
            &["--prometheus", "http://p:1", "--target="],
            &["--prometheus", "http://p:1", "--verbose"],
        ];
        for args in cases {
            assert!(run(args).is_err_and(|e| e != "help"), "{args:?}");
        }
    }
}
