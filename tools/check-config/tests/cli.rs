//! check-config as a user runs it: on files, or on standard input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn check_config(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_check-config"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("check-config runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("check-config ends")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_valid_configuration_on_stdin_is_ok() {
    let output = check_config(&[], r#"{"targets": [{"cluster": "canary"}]}"#);
    assert!(output.status.success());
    assert_eq!(stdout(&output), "ok\n");
}

#[test]
fn each_file_gets_its_verdict_and_an_invalid_one_fails_the_run() {
    let folder = std::env::temp_dir().join(format!("check-config-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("mkdir");
    let good = folder.join("good.json");
    let bad = folder.join("bad.json");
    std::fs::write(&good, r#"{"targets": [{"cluster": "canary"}]}"#).expect("write");
    std::fs::write(
        &bad,
        r#"{"targets": [{"cluster": "canary", "percentage": 150}]}"#,
    )
    .expect("write");
    let (good, bad) = (good.to_str().unwrap(), bad.to_str().unwrap());
    let output = check_config(&[good, bad], "");
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains(&format!("{good}: ok")), "{text}");
    assert!(
        text.contains(&format!(
            "{bad}: invalid plugin configuration: targets[0]: `percentage`"
        )),
        "{text}"
    );
    let missing = check_config(&["/nonexistent/config.json"], "");
    assert_eq!(missing.status.code(), Some(2));
    std::fs::remove_dir_all(&folder).ok();
}

#[test]
fn a_key_given_twice_or_a_list_beyond_its_bound_is_named() {
    let twice = check_config(
        &[],
        r#"{"targets": [{"cluster": "canary"}], "redact": {"headers": ["authorization"]},
            "redact": {"headers": []}}"#,
    );
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        stdout(&twice).contains("`redact` is given twice in one object"),
        "{}",
        stdout(&twice)
    );
    let names: Vec<String> = (0..257).map(|i| format!("\"p{i}\"")).collect();
    let many = check_config(
        &[],
        &format!(
            r#"{{"targets": [{{"cluster": "canary"}}], "redact": {{"query_params": [{}]}}}}"#,
            names.join(",")
        ),
    );
    assert_eq!(many.status.code(), Some(1));
    assert!(
        stdout(&many).contains("redact: `query_params` must be a list of at most 256"),
        "{}",
        stdout(&many)
    );
}
