//! `traffic-mirror-verdict`: see `--help`, and docs/shadow-verification.md ("The verdict").

use serde_json::{json, Value};
use std::process::ExitCode;
use traffic_mirror_verdict::cli::{self, Command, Options, Source};
use traffic_mirror_verdict::source;
use traffic_mirror_verdict::verdict::{evaluate, Report, Verdict};

fn describe(source: &Source) -> Value {
    match source {
        Source::Prometheus { url, window } => json!({
            "prometheus": format!("http://{}{}", url.authority, url.base),
            "window": window,
        }),
        Source::Envoys(urls) => json!({
            "envoy": urls.iter().map(|u| format!("http://{}{}", u.authority, u.base)).collect::<Vec<_>>(),
        }),
    }
}

fn judge(options: &Options) -> Result<Report, String> {
    let tally = match &options.source {
        Source::Prometheus { url, window } => {
            source::from_prometheus(url, window, &options.targets)?
        }
        Source::Envoys(urls) => source::from_envoys(urls)?,
    };
    Ok(evaluate(&tally, &options.targets, options.policy))
}

fn error(message: &str, as_json: bool) -> ExitCode {
    if as_json {
        let document = json!({"verdict": "error", "exit_code": 3, "error": message});
        println!("{document:#}");
    }
    eprintln!("traffic-mirror-verdict: {message}");
    ExitCode::from(Verdict::Error.exit_code())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let as_json = args.iter().any(|a| a == "--json");
    let options = match cli::parse(&args) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{}", cli::USAGE);
            return error(&message, as_json);
        }
    };
    match judge(&options) {
        Ok(report) => {
            if options.json {
                println!("{:#}", report.to_json(describe(&options.source)));
            } else {
                print!("{}", report.to_table());
            }
            ExitCode::from(report.verdict.exit_code())
        }
        Err(message) => error(&message, options.json),
    }
}
