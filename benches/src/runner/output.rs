//! What a bench run produced: the machine header and one row per phase and
//! scenario (rendered by [`super::tables`], saved as JSON by [`super::publish`]).

use std::process::Command;

use serde::Serialize;

use super::idle::IdleReport;
use super::sampler::{self, Usage};
use super::scenarios::Scenario;
use super::server::StopCheck;
use crate::loadgen::Report;

/// The machine and settings a run happened on: numbers mean nothing without it.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    /// CPU model name.
    pub cpu: String,
    /// CPUs available to the bench.
    pub cores: usize,
    /// Kernel (or OS) release.
    pub kernel: String,
    /// `rustc --version`.
    pub rustc: String,
    /// Listen backlog cap (`net.core.somaxconn`).
    pub somaxconn: String,
    /// Open-file limit after raising it.
    pub nofile: String,
    /// UTC date and time of the run.
    pub date: String,
    /// How server and load generator were placed on CPUs.
    pub pinning: String,
    /// Where the server's CPU, RSS and thread counts come from, or why they are blank.
    pub sampling: String,
    /// `git rev-parse --short HEAD` of the checkout, with `+dirty` when tracked files
    /// had uncommitted changes: which code the numbers belong to.
    pub commit: String,
    /// Whether this is a virtual machine, and which kind, or "unknown".
    pub virtualization: String,
    /// CPU time stolen by the hypervisor during the measurements, as a share of all CPU
    /// time (the `steal` column of /proc/stat); None where there is no /proc/stat.
    pub steal_pct: Option<f64>,
    /// The run's settings: loadgen threads, scenario length, repetitions.
    pub run: String,
    /// Which peers ran beside the phases, or why not.
    pub peers: String,
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Header {
    /// Gathers the header; every field degrades to "unknown" rather than failing.
    pub fn collect(pinning: String) -> Header {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
        };
        let cpu = read("/proc/cpuinfo")
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_string())
            })
            .or_else(|| command_line("sysctl", &["-n", "machdep.cpu.brand_string"]))
            .unwrap_or_else(|| "unknown".into());
        let unknown = || "unknown".to_string();
        Header {
            cpu,
            cores: crate::os::available_cpus(),
            kernel: command_line("uname", &["-sr"]).unwrap_or_else(unknown),
            rustc: command_line("rustc", &["--version"]).unwrap_or_else(unknown),
            somaxconn: read("/proc/sys/net/core/somaxconn")
                .or_else(|| command_line("sysctl", &["-n", "kern.ipc.somaxconn"]))
                .unwrap_or_else(unknown),
            nofile: crate::os::nofile_limit().map_or_else(unknown, |n| n.to_string()),
            date: utc_now(),
            pinning,
            sampling: sampler::availability().to_string(),
            commit: git_commit(),
            virtualization: virtualization(),
            steal_pct: None,
            run: String::new(),
            peers: "not run (`--peers` adds them)".into(),
        }
    }

    /// The header as Markdown.
    pub fn markdown(&self) -> String {
        let steal = self
            .steal_pct
            .map_or("not measured (no /proc/stat)".into(), |p| {
                format!("{p:.2} %")
            });
        let mut out = format!(
            "- commit: {}\n- CPU: {} ({} cores available)\n- machine: {}; CPU time stolen by the hypervisor during the run: {steal}\n- kernel: {}\n- {}\n- somaxconn: {}, open-file limit: {}\n- date: {}\n- pinning: {}\n",
            self.commit, self.cpu, self.cores, self.virtualization, self.kernel, self.rustc, self.somaxconn, self.nofile, self.date, self.pinning
        );
        if !self.run.is_empty() {
            out.push_str(&format!("- run: {}\n", self.run));
        }
        out.push_str(&format!(
            "- peers: {}\n- server CPU, RSS and threads: {}\n",
            self.peers, self.sampling
        ));
        out
    }
}

/// `abc1234`, `abc1234+dirty` when tracked files differ from the commit, or "unknown"
/// outside a git checkout.
fn git_commit() -> String {
    let Some(hash) = command_line("git", &["rev-parse", "--short", "HEAD"]) else {
        return "unknown (not a git checkout)".into();
    };
    match command_line("git", &["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if changes.is_empty() => hash,
        Some(_) => format!("{hash}+dirty (uncommitted changes to tracked files)"),
        None => format!("{hash} (clean or not: git status failed)"),
    }
}

/// Whether the bench runs in a virtual machine: `systemd-detect-virt` when present, else
/// the DMI product and vendor names, else the `hypervisor` CPU flag. A VM's numbers move
/// with its neighbours; the reader should know.
fn virtualization() -> String {
    // It prints "none" (and exits 1) when there is none of the kind asked for.
    let detect = |kind: &str| {
        let out = Command::new("systemd-detect-virt")
            .arg(kind)
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    if let Some(vm) = detect("--vm").filter(|v| !v.is_empty()) {
        let container = detect("--container")
            .filter(|c| !c.is_empty() && c != "none")
            .map_or(String::new(), |c| format!(", in a {c} container"));
        return if vm == "none" {
            format!("bare metal{container} (systemd-detect-virt)")
        } else {
            format!("virtual machine: {vm}{container} (systemd-detect-virt)")
        };
    }
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let dmi = [
        read("/sys/class/dmi/id/product_name"),
        read("/sys/class/dmi/id/sys_vendor"),
    ];
    let dmi: Vec<String> = dmi
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    const VM_NAMES: [&str; 9] = [
        "kvm",
        "qemu",
        "vmware",
        "virtualbox",
        "xen",
        "amazon ec2",
        "google compute engine",
        "virtual machine",
        "bochs",
    ];
    let joined = dmi.join(" / ");
    if VM_NAMES.iter().any(|n| joined.to_lowercase().contains(n)) {
        return format!("virtual machine: {joined} (DMI)");
    }
    if let Some(cpuinfo) = read("/proc/cpuinfo") {
        let flagged = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|l| l.split_whitespace().any(|f| f == "hypervisor"));
        return if flagged {
            "virtual machine (the CPU's hypervisor flag)".into()
        } else if joined.is_empty() {
            "probably bare metal (no hypervisor flag)".into()
        } else {
            format!("probably bare metal: {joined} (no hypervisor flag)")
        };
    }
    "unknown".into()
}

/// The `cpu` line of /proc/stat: (steal, total) jiffies since boot, for [`StealMeter`].
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
    // already inside user and nice, so it is not added again.
    let total: u64 = fields.iter().take(8).sum();
    Some((*fields.get(7)?, total))
}

/// Steal time over an interval: what the hypervisor gave other guests while this
/// machine wanted the CPU.
pub struct StealMeter(Option<(u64, u64)>);

impl StealMeter {
    /// Reads the counters at the start of the interval.
    pub fn start() -> StealMeter {
        StealMeter(cpu_jiffies())
    }

    /// The stolen share of all CPU time since [`StealMeter::start`], in percent.
    pub fn finish(&self) -> Option<f64> {
        let (steal0, total0) = self.0?;
        let (steal1, total1) = cpu_jiffies()?;
        let total = total1.checked_sub(total0)?;
        (total > 0).then(|| 100.0 * steal1.saturating_sub(steal0) as f64 / total as f64)
    }
}

/// One phase under one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Phase name.
    pub phase: String,
    /// Scenario id.
    pub scenario: String,
    /// What loadgen measured; None when the phase could not be loaded.
    pub report: Option<Report>,
    /// Server CPU, RSS and threads during the run.
    pub usage: Usage,
    /// Idle-memory test: where the idle connections went and what they cost.
    pub idle: Option<IdleReport>,
    /// Why there are no numbers, or what went wrong.
    pub error: Option<String>,
    /// The server's own warnings during the scenario (count and last message).
    pub server_log: Option<String>,
    /// Which repetition (round) this is, from 0: the JSON keeps every one.
    pub rep: usize,
}

/// All results of one bench run.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// The machine.
    pub header: Header,
    /// Scenarios in order.
    pub scenarios: Vec<Scenario>,
    /// Rows for all phases and scenarios.
    pub rows: Vec<Row>,
    /// Graceful-stop check per phase.
    pub stops: Vec<(String, StopCheck)>,
}

/// Current UTC time as `YYYY-MM-DD HH:MM:SS UTC`, without a date crate.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A file-name-safe timestamp, `YYYYMMDD-HHMMSS`.
pub fn stamp() -> String {
    utc_now()
        .replace(['-', ':'], "")
        .replacen(' ', "-", 1)
        .replace(" UTC", "")
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known dates convert correctly, including a leap day.
    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
