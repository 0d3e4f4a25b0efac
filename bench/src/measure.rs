//! Timing one tool invocation (wall clock, spawn to exit), sampling its peak RSS from
//! `/proc/<pid>/status` (VmHWM) while it runs, and medians.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// How often the peak RSS is sampled.
const RSS_SAMPLE: Duration = Duration::from_millis(5);

/// What one invocation measured.
#[derive(Debug)]
pub struct Timed {
    /// Wall-clock seconds.
    pub secs: f64,
    /// Peak resident set size in KiB (the last VmHWM sampled before it exited).
    pub peak_rss_kib: u64,
    /// `Err` with the exit status and the tail of its output when it failed.
    pub outcome: std::result::Result<(), String>,
}

/// Runs `cmd` to completion with stdin closed and its output in `<log>.out` / `<log>.err`.
pub fn run_timed(cmd: &mut Command, log: &Path) -> Result<Timed> {
    let out_path = log.with_extension("out");
    let err_path = log.with_extension("err");
    let out = std::fs::File::create(&out_path)
        .with_context(|| format!("create {}", out_path.display()))?;
    let err = std::fs::File::create(&err_path)
        .with_context(|| format!("create {}", err_path.display()))?;
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("start {:?}", cmd.get_program()))?;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample_peak_rss(child.id(), Arc::clone(&done));
    let status = child.wait().context("wait for the tool")?;
    let secs = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let peak_rss_kib = sampler.join().unwrap_or(0);
    let outcome = if status.success() {
        Ok(())
    } else {
        let text = std::fs::read_to_string(&err_path).unwrap_or_default()
            + &std::fs::read_to_string(&out_path).unwrap_or_default();
        Err(format!("{status}: {}", tail(&text, 15)))
    };
    Ok(Timed {
        secs,
        peak_rss_kib,
        outcome,
    })
}

/// Polls VmHWM of `pid` until it exits or `done` is set; returns the largest value seen.
fn sample_peak_rss(pid: u32, done: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let path = format!("/proc/{pid}/status");
        let mut peak = 0;
        while !done.load(Ordering::Relaxed) {
            // A zombie has no VmHWM line: the process has exited.
            let Some(kib) = std::fs::read_to_string(&path)
                .ok()
                .as_deref()
                .and_then(vm_hwm)
            else {
                break;
            };
            peak = peak.max(kib);
            thread::sleep(RSS_SAMPLE);
        }
        peak
    })
}

/// The `VmHWM:   1234 kB` line of `/proc/<pid>/status`, in KiB.
fn vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The last `n` non-empty lines of `text` on one line, without terminal colour codes.
fn tail(text: &str, n: usize) -> String {
    let plain = strip_colours(text);
    let lines: Vec<&str> = plain.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// `text` without `ESC [ ... m` sequences (redis-cli colours its output even into a file).
fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        rest = rest[i..].find('m').map_or("", |m| &rest[i + m + 1..]);
    }
    out.push_str(rest);
    out
}

/// The median of `values`, `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The machine's load averages and core count, e.g. `load 0.52 0.61 0.70 on 2 cores`.
pub fn machine_load() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let avg: Vec<&str> = load.split_whitespace().take(3).collect();
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    format!("load {} on {cores} cores", avg.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_vm_hwm() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(
            vm_hwm("Name:\tx\nVmHWM:\t   12345 kB\nVmRSS:\t 1 kB\n"),
            Some(12345)
        );
        assert_eq!(vm_hwm("Name:\tx\nState:\tZ (zombie)\n"), None);
        assert_eq!(tail("a\n\x1b[31;1mb\x1b[0m\n\nc\n", 2), "b / c");
    }
}
