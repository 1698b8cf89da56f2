//! Tidy checks over the source tree (rust-analyzer style): every `.rs` file starts with a `//!`
//! doc, no test is skipped or expected to panic, and every top-level module is on the map in
//! ARCHITECTURE.md.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("target") && !path.ends_with(".git") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn tidy_every_rust_file_has_a_module_doc_and_no_skipped_tests() {
    let root = workspace_root();
    let mut files = Vec::new();
    for crate_dir in ["shared", "agent", "collector", "tests", "xtask"] {
        rust_files(&root.join(crate_dir), &mut files);
    }
    assert!(
        files.len() > 20,
        "found only {} files under {}",
        files.len(),
        root.display()
    );
    let should_panic = ["#[should", "_panic"].concat();
    let ignore = ["#[ig", "nore"].concat();
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let first = text
            .lines()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("");
        if !first.starts_with("//!") {
            problems.push(format!("{}: does not start with a //! doc", file.display()));
        }
        if text.contains(&should_panic) || text.contains(&ignore) {
            problems.push(format!("{}: skipped or should-panic test", file.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn tidy_architecture_names_every_module() {
    let root = workspace_root();
    let map =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let mut missing = Vec::new();
    for crate_dir in ["shared", "agent", "collector"] {
        let src = root.join(crate_dir).join("src");
        for entry in std::fs::read_dir(&src).unwrap().flatten() {
            let path = entry.path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if name == "lib" || name == "main" {
                continue;
            }
            let mention = format!("{crate_dir}/src/{name}");
            if !map.contains(&mention) {
                missing.push(mention);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not mention: {missing:?}"
    );
}

/// Lines of the collector's sources that contain `needle`, outside the allowed files.
fn collector_uses(needle: &str, allowed: &[&str]) -> Vec<String> {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("collector/src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if allowed.iter().any(|allowed| relative.starts_with(allowed)) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (index, line) in text.lines().enumerate() {
            if line.contains(needle) {
                found.push(format!("{relative}:{}: {}", index + 1, line.trim()));
            }
        }
    }
    found
}

/// The claims ARCHITECTURE.md makes about the collector, checked against the code.
#[test]
fn tidy_the_collector_keeps_the_boundaries_the_map_claims() {
    // HTTP status codes are decided in one place.
    let status = collector_uses("StatusCode::", &["collector/src/api/error.rs"]);
    assert!(
        status.is_empty(),
        "status codes outside api/error.rs: {status:#?}"
    );
    // Each database driver lives in its backend only; the interface is neutral.
    let sqlite = collector_uses("rusqlite", &["collector/src/store/sqlite.rs"]);
    assert!(
        sqlite.is_empty(),
        "rusqlite outside store/sqlite.rs: {sqlite:#?}"
    );
    let postgres = collector_uses("tokio_postgres", &["collector/src/store/postgres.rs"]);
    let pool = collector_uses("deadpool", &["collector/src/store/postgres.rs"]);
    assert!(
        postgres.is_empty() && pool.is_empty(),
        "the PostgreSQL driver outside store/postgres.rs: {postgres:#?} {pool:#?}"
    );
    // Only the pipeline drives store transactions (and the store's own conformance suite).
    let mut transactions = collector_uses(
        ".begin()",
        &["collector/src/pipeline/", "collector/src/store/"],
    );
    transactions.extend(collector_uses(
        ".begin_deferred()",
        &["collector/src/pipeline/", "collector/src/store/"],
    ));
    assert!(
        transactions.is_empty(),
        "store transactions outside the pipeline: {transactions:#?}"
    );
    // The domain does not know the store.
    let domain_store = collector_uses("crate::store", &[])
        .into_iter()
        .filter(|line| line.starts_with("collector/src/incidents/"))
        .collect::<Vec<_>>();
    assert!(
        domain_store.is_empty(),
        "incidents use the store: {domain_store:#?}"
    );
}

#[test]
fn tidy_one_active_incident_per_fingerprint_is_a_unique_index_in_both_schemas() {
    let root = workspace_root();
    for backend in ["sqlite", "postgres"] {
        let text = std::fs::read_to_string(root.join(format!("collector/src/store/{backend}.rs")))
            .unwrap();
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(
                "CREATE UNIQUE INDEX incidents_one_active ON incidents (fingerprint) WHERE state IN ('open', 'acknowledged')"
            ),
            "{backend}: no partial unique index on active incidents"
        );
    }
}

#[test]
fn tidy_the_stage_order_on_the_map_is_the_code_s() {
    let root = workspace_root();
    let stages =
        std::fs::read_to_string(root.join("collector/src/incidents/stages/mod.rs")).unwrap();
    let list = stages
        .split("pub const STAGES")
        .nth(1)
        .and_then(|rest| rest.split("];").next())
        .expect("STAGES in stages/mod.rs");
    let names: Vec<&str> = list
        .split("(\"")
        .skip(1)
        .filter_map(|part| part.split('"').next())
        .collect();
    assert!(names.len() >= 5, "{names:?}");
    let order = names.join(" → ");
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    assert!(
        map.contains(&order),
        "ARCHITECTURE.md does not state the stage order {order:?}"
    );
}
