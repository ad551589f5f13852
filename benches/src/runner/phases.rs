//! Finding the phases and building them, without a hard-coded list.
//!
//! A phase is any workspace member whose manifest sits in `phases/<dir>/`; its
//! binary is the package's `bin` target. Adding a crate under `phases/` to the
//! workspace is enough for the bench to pick it up.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A phase binary the bench can run.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Package name, e.g. `p1-blocking` (used in tables and `--phases`).
    pub name: String,
    /// The binary target's name (by convention the same as the package).
    pub bin: String,
}

/// The workspace as far as the bench cares.
#[derive(Debug)]
pub struct Workspace {
    /// Workspace root (where `book/` and `phases/` live).
    pub root: PathBuf,
    /// Cargo's target directory (release binaries are under `release/`).
    pub target_dir: PathBuf,
    /// Phases in name order.
    pub phases: Vec<Phase>,
}

/// The cargo executable: the one running us when run through cargo, else `cargo`.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The root of the workspace the current directory belongs to, from
/// `cargo locate-project --workspace`: what the bench and every test that reads the tree
/// (the book checks) start from, so a moved or copied checkout reads itself.
pub fn workspace_root() -> Result<PathBuf, String> {
    let output = Command::new(cargo())
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .map_err(|e| format!("cannot run cargo locate-project: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "not inside the c10k-phases checkout: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let manifest = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    manifest
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("cargo located the workspace at {}", manifest.display()))
}

/// Runs `cargo metadata --no-deps` in the current directory and picks out the phases.
///
/// The workspace is the one the reader stands in, never a path fixed when `bench` was
/// compiled: a checkout copied or moved together with its `target/` must build, run and
/// publish its own phases, not the original tree's.
pub fn discover() -> Result<Workspace, String> {
    let output = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed (run bench from inside the checkout): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata printed bad JSON: {e}"))?;
    parse_metadata(&meta)
}

/// Extracts the phases from `cargo metadata` JSON (split out to test it).
pub fn parse_metadata(meta: &serde_json::Value) -> Result<Workspace, String> {
    let root = PathBuf::from(
        meta["workspace_root"]
            .as_str()
            .ok_or("metadata without workspace_root")?,
    );
    let target_dir = PathBuf::from(
        meta["target_directory"]
            .as_str()
            .ok_or("metadata without target_directory")?,
    );
    let phases_dir = root.join("phases");
    let mut phases = Vec::new();
    for package in meta["packages"]
        .as_array()
        .ok_or("metadata without packages")?
    {
        let Some(manifest) = package["manifest_path"].as_str().map(Path::new) else {
            continue;
        };
        if manifest.parent().and_then(Path::parent) != Some(phases_dir.as_path()) {
            continue;
        }
        let name = package["name"].as_str().unwrap_or_default().to_string();
        let bin = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
            .and_then(|t| t["name"].as_str());
        if let Some(bin) = bin {
            phases.push(Phase {
                name,
                bin: bin.to_string(),
            });
        }
    }
    phases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Workspace {
        root,
        target_dir,
        phases,
    })
}

/// Builds the phases in release mode with one cargo call. If that fails (one
/// phase does not compile), builds each alone so the others still run; returns
/// the phases that failed with the reason.
pub fn build(ws: &Workspace, phases: &[Phase]) -> Vec<(String, String)> {
    if phases.is_empty() || cargo_build(ws, phases).is_ok() {
        return Vec::new();
    }
    phases
        .iter()
        .filter_map(|p| {
            cargo_build(ws, std::slice::from_ref(p))
                .err()
                .map(|e| (p.name.clone(), e))
        })
        .collect()
}

fn cargo_build(ws: &Workspace, phases: &[Phase]) -> Result<(), String> {
    let mut command = Command::new(cargo());
    command
        .args(["build", "--release", "--quiet"])
        .current_dir(&ws.root);
    for p in phases {
        command.args(["-p", &p.name]);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first_error = stderr
        .lines()
        .find(|l| l.starts_with("error"))
        .unwrap_or("cargo build failed");
    Err(format!("build failed: {first_error}"))
}

impl Workspace {
    /// Path of a phase's release binary.
    pub fn binary(&self, phase: &Phase) -> PathBuf {
        self.target_dir.join("release").join(&phase.bin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only members under `phases/` with a bin target count as phases.
    #[test]
    fn finds_phases_in_metadata() {
        let meta = serde_json::json!({
            "workspace_root": "/w",
            "target_directory": "/w/target",
            "packages": [
                {"name": "p2-b", "manifest_path": "/w/phases/p2-b/Cargo.toml",
                 "targets": [{"name": "p2_b", "kind": ["lib"]}, {"name": "p2-b", "kind": ["bin"]}]},
                {"name": "p1-a", "manifest_path": "/w/phases/p1-a/Cargo.toml",
                 "targets": [{"name": "p1-a", "kind": ["bin"]}]},
                {"name": "bench", "manifest_path": "/w/benches/Cargo.toml",
                 "targets": [{"name": "bench", "kind": ["bin"]}]},
                {"name": "libonly", "manifest_path": "/w/phases/libonly/Cargo.toml",
                 "targets": [{"name": "libonly", "kind": ["lib"]}]}
            ]
        });
        let ws = parse_metadata(&meta).unwrap();
        let names: Vec<_> = ws.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["p1-a", "p2-b"]);
        assert_eq!(
            ws.binary(&ws.phases[1]),
            PathBuf::from("/w/target/release/p2-b")
        );
    }
}
