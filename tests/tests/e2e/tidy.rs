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
