//! House rules checked as a test, so that `cargo test` enforces them: every source file says
//! what it owns, crates keep their dependency boundaries, and no test is skipped or sleeps.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    files.into_iter().map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap())).collect()
}

#[test]
fn every_file_starts_with_a_module_doc() {
    for (path, text) in sources() {
        // `sql.rs` is `include!`d into two modules, whose docs it shares.
        let included = path.ends_with("roster-store/src/sql.rs");
        assert!(
            included || text.starts_with("//!"),
            "{} must start with a `//!` doc",
            path.display()
        );
    }
}

#[test]
fn no_test_is_skipped_and_none_sleeps() {
    let banned =
        [concat!("#[", "ignore"), concat!("should_", "panic"), concat!("thread::", "sleep(")];
    for (path, text) in sources() {
        for word in banned {
            assert!(!text.contains(word), "{} contains {word}", path.display());
        }
    }
}

/// The `[dependencies]` table of a crate's manifest.
fn dependencies(krate: &str) -> String {
    let manifest =
        std::fs::read_to_string(workspace().join("crates").join(krate).join("Cargo.toml")).unwrap();
    let start = manifest.find("[dependencies]").unwrap();
    let rest = &manifest[start + 1..];
    rest[..rest.find("\n[").unwrap_or(rest.len())].to_owned()
}

#[test]
fn crates_keep_their_boundaries() {
    let core = dependencies("roster-core");
    for banned in ["axum", "sqlx", "reqwest", "tower", "roster-"] {
        assert!(!core.contains(banned), "roster-core must not depend on {banned}");
    }
    let http = dependencies("roster-http");
    for banned in ["sqlx", "roster-store"] {
        assert!(
            !http.contains(banned),
            "roster-http must not depend on {banned}: surfaces write no SQL"
        );
    }
}

#[test]
fn integration_tests_are_one_binary() {
    let entries = |dir: &str| -> Vec<String> {
        std::fs::read_dir(workspace().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let it = entries("crates/roster-testkit/tests");
    assert_eq!(it, ["it"], "add test modules under tests/it/, not new binaries");
    // The one other: tests of the `roster` binary as a process (kills, faults), which only its
    // own package can build against.
    let process = entries("crates/roster-server/tests");
    assert_eq!(process, ["process"], "process tests are one binary: tests/process/");
}
