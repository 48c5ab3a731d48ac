//! The harness itself: it never runs a plugin built from other sources than the ones checked out.

use mirror_harness::{newer_source, tempfile};
use std::time::{Duration, SystemTime};

#[test]
fn a_plugin_older_than_any_of_its_sources_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("src/redact")).expect("mkdir");
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "src/lib.rs",
        "src/redact/json.rs",
    ] {
        std::fs::write(root.path().join(file), "").expect("write");
    }
    let before = SystemTime::now() - Duration::from_secs(60);
    let after = SystemTime::now() + Duration::from_secs(60);
    assert!(
        newer_source(root.path(), after).is_none(),
        "built after every source"
    );
    let newer = newer_source(root.path(), before).expect("a newer source");
    assert!(newer.starts_with(root.path()));
    // Only the nested file is newer than a build made between the two writes.
    let between = SystemTime::now();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(root.path().join("src/redact/json.rs"), "// edited").expect("write");
    assert_eq!(
        newer_source(root.path(), between).expect("the edited file"),
        root.path().join("src/redact/json.rs")
    );
}
