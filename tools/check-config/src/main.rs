//! `check-config [FILE | -]...`: parses each plugin configuration (JSON, as in Envoy's
//! `configuration` or Istio's `pluginConfig`) exactly as the plugin does, and prints `ok` or
//! the error the plugin would log. Reads standard input when no file (or `-`) is given.
//! Exit status: 0 when every configuration is valid, 1 when one is not, 2 when one cannot be
//! read. The manifest and schema checks (tests/istio, tests/schema) use it too.

use std::io::Read;
use std::process::ExitCode;
use traffic_mirror::config::Config;

fn read(source: &str) -> Result<Vec<u8>, String> {
    if source == "-" {
        let mut json = Vec::new();
        std::io::stdin()
            .read_to_end(&mut json)
            .map_err(|error| format!("cannot read standard input: {error}"))?;
        return Ok(json);
    }
    std::fs::read(source).map_err(|error| format!("cannot read {source}: {error}"))
}

fn main() -> ExitCode {
    let mut sources: Vec<String> = std::env::args().skip(1).collect();
    if sources.iter().any(|arg| arg == "-h" || arg == "--help") {
        println!("usage: check-config [FILE | -]...   (no argument: standard input)");
        return ExitCode::SUCCESS;
    }
    if sources.is_empty() {
        sources.push("-".into());
    }
    let named = sources.len() > 1;
    let mut status = ExitCode::SUCCESS;
    for source in &sources {
        let prefix = if named {
            format!("{source}: ")
        } else {
            String::new()
        };
        match read(source).map(|json| Config::parse(&json)) {
            Ok(Ok(_)) => println!("{prefix}ok"),
            Ok(Err(error)) => {
                println!("{prefix}invalid plugin configuration: {error}");
                status = ExitCode::FAILURE;
            }
            Err(error) => {
                eprintln!("check-config: {error}");
                return ExitCode::from(2);
            }
        }
    }
    status
}
