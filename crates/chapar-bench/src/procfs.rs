//! What /proc says about a process: resident memory, CPU time, and CPU time per thread (by the
//! thread's name, so a report can say "the store's writer thread was busy 97% of the time").

use serde::Serialize;
use std::collections::BTreeMap;

/// Linux reports CPU times in /proc in units of USER_HZ, which is 100 on every architecture.
const TICKS_PER_SEC: f64 = 100.0;

/// Resident memory (VmRSS) of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Parse `(name, user+system seconds)` from the text of a /proc stat file.
fn parse_stat(text: &str) -> Option<(String, f64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    // After ") " come the fields from the third on: utime and stime are fields 14 and 15.
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((name, (utime + stime) / TICKS_PER_SEC))
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text).map(|(_, s)| s)
}

/// CPU seconds per thread name (threads of the same name are added up).
pub fn thread_cpu(pid: u32) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let path = entry.path().join("stat");
        if let Some((name, secs)) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| parse_stat(&t))
        {
            *out.entry(name).or_insert(0.0) += secs;
        }
    }
    out
}

/// Busy time of the whole machine so far (all CPUs, in seconds), from /proc/stat.
pub fn machine_busy_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<f64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    Some((total - idle) / TICKS_PER_SEC)
}

/// Machine-wide TCP counters that tell of a stampede: connections dropped because a listen
/// queue was full (the server did not accept fast enough), SYN cookies sent.
pub fn tcp_counters() -> BTreeMap<String, u64> {
    const WANTED: [&str; 4] = [
        "ListenOverflows",
        "ListenDrops",
        "SyncookiesSent",
        "TCPReqQFullDrop",
    ];
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let mut out = BTreeMap::new();
    if let [names, values, ..] = lines[..] {
        for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
            if WANTED.contains(&n)
                && let Ok(v) = v.parse()
            {
                out.insert(n.to_string(), v);
            }
        }
    }
    out
}

/// Counters that grew between two readings of [`tcp_counters`].
pub fn tcp_delta(before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    tcp_counters()
        .into_iter()
        .map(|(k, v)| {
            let d = v.saturating_sub(before.get(&k).copied().unwrap_or(0));
            (k, d)
        })
        .collect()
}

/// The load average over the last minute.
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU used by a process between two points in time, overall and per thread name.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuUse {
    /// CPU seconds per wall second (2.0 = both cores of this machine busy).
    pub cores: f64,
    /// The whole machine's busy cores over the same time: what is not this process nor the
    /// other side of the benchmark was someone else (a compiler, say) and made the figure noisy.
    pub machine_cores: f64,
    /// The same per thread name, busiest first (threads under 1% left out).
    pub threads: Vec<(String, f64)>,
}

/// A reading of a process's CPU counters, to subtract from a later one.
#[derive(Clone, Debug)]
pub struct CpuMark {
    pid: u32,
    at: std::time::Instant,
    total: f64,
    machine: f64,
    threads: BTreeMap<String, f64>,
}

impl CpuMark {
    pub fn now(pid: u32) -> CpuMark {
        CpuMark {
            pid,
            at: std::time::Instant::now(),
            total: cpu_secs(pid).unwrap_or(0.0),
            machine: machine_busy_secs().unwrap_or(0.0),
            threads: thread_cpu(pid),
        }
    }

    /// CPU used since this mark.
    pub fn since(&self) -> CpuUse {
        let later = CpuMark::now(self.pid);
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let mut threads: Vec<(String, f64)> = later
            .threads
            .iter()
            .map(|(name, s)| {
                let before = self.threads.get(name).copied().unwrap_or(0.0);
                (name.clone(), round2((s - before).max(0.0) / wall))
            })
            .filter(|(_, c)| *c >= 0.01)
            .collect();
        threads.sort_by(|a, b| b.1.total_cmp(&a.1));
        CpuUse {
            cores: round2((later.total - self.total).max(0.0) / wall),
            machine_cores: round2((later.machine - self.machine).max(0.0) / wall),
            threads,
        }
    }
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The machine, for reports: CPU model, cores, memory, kernel.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    serde_json::json!({
        "cpu": model,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_gib": (mem_kib as f64 / 1048576.0 * 10.0).round() / 10.0,
        "kernel": kernel.trim(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_in_the_name() {
        let line = "123 (tokio runtime) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0";
        let (name, secs) = parse_stat(line).unwrap();
        assert_eq!(name, "tokio runtime");
        assert_eq!(secs, 3.0);
    }

    #[test]
    fn this_process_is_visible() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu_secs(me).is_some());
        assert!(!thread_cpu(me).is_empty());
        assert!(machine_busy_secs().unwrap() > 0.0);
        assert!(loadavg().is_some());
        assert!(tcp_counters().contains_key("ListenOverflows"));
    }
}
