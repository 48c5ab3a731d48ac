//! The fuzz targets on stable Rust, without the fuzzer: every committed corpus input and every
//! regression input (a crash the fuzzer once found) goes through the very function its target
//! runs (fuzz/src/lib.rs), so a fixed crash stays fixed in CI, which never builds the fuzzer.

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_targets;

use std::path::Path;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .map(|entry| {
            let bytes = std::fs::read(entry.path()).expect("readable input");
            (entry.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

#[test]
fn every_committed_corpus_and_regression_input_passes_its_target() {
    let fuzz = mirror_harness::repo_root().join("fuzz");
    for (target, run) in fuzz_targets::TARGETS {
        let corpus = inputs(&fuzz.join("corpus").join(target));
        assert!(
            !corpus.is_empty(),
            "target {target} has no committed corpus"
        );
        let regressions = inputs(&fuzz.join("regressions").join(target));
        for (name, input) in corpus.iter().chain(&regressions) {
            let outcome = std::panic::catch_unwind(|| run(input));
            assert!(outcome.is_ok(), "{target}: input {name} fails");
        }
    }
}

#[test]
fn every_fuzz_target_is_built_by_the_fuzz_crate() {
    let manifest = std::fs::read_to_string(mirror_harness::repo_root().join("fuzz/Cargo.toml"))
        .expect("fuzz/Cargo.toml");
    for (target, _) in fuzz_targets::TARGETS {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{target}.rs\"")),
            "fuzz/Cargo.toml does not build {target}"
        );
    }
}
