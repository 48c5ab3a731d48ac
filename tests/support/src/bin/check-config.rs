//! `check-config < config.json`: parses a plugin configuration exactly as the plugin does and
//! prints `ok` or the error the plugin would log (exit status 1). Used by the manifest and
//! schema checks (tests/istio), which hold configurations outside Envoy.

use std::io::Read;
use std::process::ExitCode;
use traffic_mirror::config::Config;

fn main() -> ExitCode {
    let mut json = Vec::new();
    if let Err(error) = std::io::stdin().read_to_end(&mut json) {
        eprintln!("cannot read stdin: {error}");
        return ExitCode::from(2);
    }
    match Config::parse(&json) {
        Ok(_) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("invalid plugin configuration: {error}");
            ExitCode::FAILURE
        }
    }
}
