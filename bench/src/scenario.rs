//! The scenarios. Each run builds a fresh cluster (same layout, same keys), runs one tool,
//! then verifies the result; runs alternate between redis-cli and ours. Each scenario ends with
//! its medians and one machine-readable `RESULT` line.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::ceiling;
use crate::data::KeySet;
use crate::measure::{self, machine_load, median};
use crate::node::Cluster;
use crate::topo::{self, Master};

/// Bytes per value of the uniform key sets.
const VALUE_BYTES: usize = 100;
/// Slots every master must end up within of an even share after a rebalance (redis-cli's
/// default `--cluster-threshold`).
const BALANCE_TOLERANCE_PCT: u32 = 2;
/// How many `{tag}`s, hence slots, the big values are spread over.
const BIG_SLOTS: usize = 3;

/// What every scenario needs.
pub struct Bench {
    /// The plugin binary under test.
    pub plugin: PathBuf,
    /// Where clusters and tool logs live while the bench runs.
    pub work: PathBuf,
    /// Runs per tool.
    pub runs: usize,
    /// Keys for rebalance and drain.
    pub keys: u64,
    /// Number of big values.
    pub big_keys: u64,
    /// Bytes per big value.
    pub big_value_bytes: usize,
    /// Keys for the ceiling measurement.
    pub ceiling_keys: u64,
    /// Runs the async loader and verifier.
    pub rt: tokio::runtime::Runtime,
}

/// A scenario, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// One-stream MIGRATE rate (the reference for the ceiling ratio).
    Ceiling,
    /// 3 masters with keys, add an empty master, rebalance.
    Rebalance,
    /// Move every slot off one of 4 masters.
    Drain,
    /// Move every slot off the master holding a few hundred 1 MB values in a few slots.
    Bigkeys,
}

/// A tool under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    /// `redis-cli --cluster` with `--cluster-pipeline` (None: its default, 10).
    RedisCli(Option<u32>),
    /// `kubectl-redis_cluster`.
    Ours,
}

impl Tool {
    /// How summaries name it.
    fn label(self) -> String {
        match self {
            Tool::RedisCli(p) => format!("redis-cli (pipeline {})", p.unwrap_or(10)),
            Tool::Ours => "ours".to_string(),
        }
    }

    /// How log file names name it.
    fn slug(self) -> String {
        match self {
            Tool::RedisCli(p) => format!("redis-cli-p{}", p.unwrap_or(10)),
            Tool::Ours => "ours".to_string(),
        }
    }
}

/// One command a run times: a step name, the program and its arguments.
struct Step {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
}

/// Where a run's commands point.
struct Targets {
    /// Any node of the cluster.
    seed: String,
    /// The empty node to add (rebalance).
    new_node: String,
    /// The master to empty and the one receiving its slots (drain, bigkeys).
    from_to: Option<(Master, Master)>,
}

/// A fresh cluster with its keys loaded, ready for one run.
struct Prepared {
    cluster: Cluster,
    keys: KeySet,
    targets: Targets,
    /// Keys on the master to empty, before the run (drain, bigkeys).
    source_keys: u64,
}

/// What one run of one tool measured.
struct Run {
    /// Seconds of the last (measured) step; `None` when a step failed.
    secs: Option<f64>,
    /// Seconds of the steps before it (add-node) and of the untimed join wait after them.
    before: Vec<(&'static str, f64)>,
    /// Peak RSS over the tool's processes, KiB.
    peak_rss_kib: u64,
    /// Keys that changed node.
    moved: u64,
    /// `Err` says what failed or what verification found wrong.
    outcome: std::result::Result<(), String>,
}

impl Scenario {
    /// The name in RESULT lines.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ceiling => "ceiling",
            Scenario::Rebalance => "rebalance",
            Scenario::Drain => "drain",
            Scenario::Bigkeys => "bigkeys",
        }
    }

    /// The tools compared, in the order they alternate.
    fn tools(self) -> Vec<Tool> {
        match self {
            Scenario::Rebalance => {
                vec![Tool::RedisCli(None), Tool::Ours, Tool::RedisCli(Some(1000))]
            }
            _ => vec![Tool::RedisCli(None), Tool::Ours],
        }
    }

    /// One line on what the scenario does.
    fn describe(self, b: &Bench) -> String {
        match self {
            Scenario::Ceiling => format!(
                "one MIGRATE stream, {} keys of {VALUE_BYTES} B in one slot, 1000 keys per batch",
                b.ceiling_keys
            ),
            Scenario::Rebalance => format!(
                "3 masters + {} keys of {VALUE_BYTES} B; add 1 empty master (timed apart), rebalance (measured)",
                b.keys
            ),
            Scenario::Drain => format!(
                "4 masters + {} keys of {VALUE_BYTES} B; move every slot of master 4 to master 1 (one reshard each)",
                b.keys
            ),
            Scenario::Bigkeys => format!(
                "3 masters; {} values of {} B in {BIG_SLOTS} slots of master 3; move every slot of master 3 to master 1",
                b.big_keys, b.big_value_bytes
            ),
        }
    }

    /// Bytes per value.
    fn value_bytes(self, b: &Bench) -> usize {
        match self {
            Scenario::Bigkeys => b.big_value_bytes,
            _ => VALUE_BYTES,
        }
    }

    /// Builds and loads a fresh cluster.
    fn prepare(self, b: &Bench) -> Result<Prepared> {
        let (nodes, masters) = match self {
            Scenario::Rebalance => (4, 3),
            Scenario::Drain => (4, 4),
            Scenario::Bigkeys | Scenario::Ceiling => (3, 3),
        };
        let cluster = Cluster::start(&b.work, nodes)?;
        cluster.init(&b.plugin, masters)?;
        let seed = cluster.seed();
        let from_to = match self {
            Scenario::Rebalance | Scenario::Ceiling => None,
            _ => Some((
                topo::master_at(seed, cluster.addr(masters - 1))?,
                topo::master_at(seed, cluster.addr(0))?,
            )),
        };
        let keys = match (&from_to, self) {
            (Some((from, _)), Scenario::Bigkeys) => KeySet {
                tags: tags_on(seed, from, BIG_SLOTS)?,
                count: b.big_keys,
                value_size: b.big_value_bytes,
            },
            _ => KeySet::uniform(b.keys, VALUE_BYTES),
        };
        b.rt.block_on(keys.load(seed)).context("load the keys")?;
        let source_keys = match &from_to {
            Some((from, _)) => topo::dbsize(&from.addr)?,
            None => 0,
        };
        let targets = Targets {
            seed: seed.to_string(),
            new_node: cluster.addr(nodes - 1).to_string(),
            from_to,
        };
        Ok(Prepared {
            cluster,
            keys,
            targets,
            source_keys,
        })
    }

    /// The commands `tool` runs; the last one is the measured one.
    fn steps(self, tool: Tool, plugin: &Path, t: &Targets) -> Vec<Step> {
        let seed = t.seed.as_str();
        let cli = |name, args: &[&str], pipeline: Option<u32>| {
            let mut args = strings(args);
            if let Some(n) = pipeline {
                args.extend(["--cluster-pipeline".to_string(), n.to_string()]);
            }
            Step {
                name,
                program: "redis-cli".into(),
                args,
            }
        };
        let ours = |name, args: &[&str]| Step {
            name,
            program: plugin.to_path_buf(),
            args: strings(&[&["--seed", seed], args, &["--yes"]].concat()),
        };
        match (&t.from_to, tool) {
            (None, Tool::RedisCli(pipeline)) => vec![
                cli(
                    "add-node",
                    &["--cluster", "add-node", &t.new_node, seed],
                    None,
                ),
                cli(
                    "rebalance",
                    &[
                        "--cluster",
                        "rebalance",
                        seed,
                        "--cluster-use-empty-masters",
                    ],
                    pipeline,
                ),
            ],
            (None, Tool::Ours) => {
                vec![
                    ours("add-node", &["add-node", &t.new_node]),
                    ours("rebalance", &["rebalance", "--use-empty-masters"]),
                ]
            }
            (Some((from, to)), Tool::RedisCli(pipeline)) => {
                let slots = from.slots().to_string();
                let args = [
                    "--cluster",
                    "reshard",
                    seed,
                    "--cluster-from",
                    &from.id,
                    "--cluster-to",
                    &to.id,
                    "--cluster-slots",
                    &slots,
                    "--cluster-yes",
                ];
                vec![cli("reshard", &args, pipeline)]
            }
            (Some((from, to)), Tool::Ours) => {
                vec![ours(
                    "reshard",
                    &[
                        "reshard",
                        "--from",
                        &from.addr,
                        "--to",
                        &to.addr,
                        "--slots",
                        &from.slots().to_string(),
                    ],
                )]
            }
        }
    }

    /// Keys that changed node in `p`, after its run: what the new master holds (rebalance) or
    /// what the emptied master held (drain, bigkeys).
    fn moved(self, p: &Prepared) -> Result<u64> {
        match &p.targets.from_to {
            None => topo::dbsize(&p.targets.new_node),
            Some(_) => Ok(p.source_keys),
        }
    }

    /// One run of `tool` on a fresh cluster, verified.
    fn run_once(self, b: &Bench, tool: Tool, round: usize) -> Result<Run> {
        let p = self.prepare(b)?;
        let mut run = Run {
            secs: None,
            before: Vec::new(),
            peak_rss_kib: 0,
            moved: 0,
            outcome: Ok(()),
        };
        let steps = self.steps(tool, &b.plugin, &p.targets);
        let last = steps.len() - 1;
        for (i, step) in steps.into_iter().enumerate() {
            let log = b.work.join(format!(
                "{}-{round}-{}-{}",
                self.name(),
                tool.slug(),
                step.name
            ));
            let timed = measure::run_timed(Command::new(&step.program).args(&step.args), &log)?;
            run.peak_rss_kib = run.peak_rss_kib.max(timed.peak_rss_kib);
            if let Err(e) = timed.outcome {
                run.outcome = Err(format!(
                    "{} failed after {:.3} s: {e}",
                    step.name, timed.secs
                ));
                return Ok(run);
            }
            if i == last {
                run.secs = Some(timed.secs);
            } else {
                run.before.push((step.name, timed.secs));
                // Not part of the tool's time: `redis-cli --cluster add-node` returns before
                // the new node has joined; the measured step must start from the same settled
                // cluster for both tools.
                let joined = topo::wait_joined(&p.cluster.addrs(), &p.targets.new_node)?;
                run.before.push(("untimed join wait", joined.as_secs_f64()));
            }
        }
        run.moved = self.moved(&p)?;
        run.outcome = self.verify(b, &p)?;
        Ok(run)
    }

    /// After a run: `redis-cli --cluster check` is clean, every key reads back its value, the
    /// masters hold exactly the keys loaded, and the slots are where the scenario wants them.
    fn verify(self, b: &Bench, p: &Prepared) -> Result<std::result::Result<(), String>> {
        let seed = p.cluster.seed();
        let mut problems = Vec::new();
        if let Err(text) = topo::redis_cli_check_converged(seed)? {
            problems.push(format!("redis-cli --cluster check: {text}"));
        }
        if let Err(e) = b.rt.block_on(p.keys.verify(seed))? {
            problems.push(e);
        }
        let masters = topo::masters(seed)?;
        let total = topo::total_keys(&masters.iter().map(|m| m.addr.clone()).collect::<Vec<_>>())?;
        if total != p.keys.count {
            problems.push(format!(
                "the masters hold {total} keys, {} were loaded",
                p.keys.count
            ));
        }
        match &p.targets.from_to {
            None => {
                let share = 16384 / masters.len().max(1) as u32;
                let off: Vec<String> = masters
                    .iter()
                    .filter(|m| m.slots().abs_diff(share) * 100 > share * BALANCE_TOLERANCE_PCT)
                    .map(|m| format!("{} owns {}", m.addr, m.slots()))
                    .collect();
                if masters.len() != 4 || !off.is_empty() {
                    problems.push(format!(
                        "{} masters, not balanced (share {share}): {}",
                        masters.len(),
                        off.join(", ")
                    ));
                }
            }
            Some((from, _)) => {
                if let Some(m) = masters.iter().find(|m| m.id == from.id)
                    && m.slots() > 0
                {
                    problems.push(format!("{} still owns {} slots", m.addr, m.slots()));
                }
            }
        }
        Ok(if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        })
    }

    /// Runs the scenario: every tool `b.runs` times, alternating; prints each run, the medians
    /// and the RESULT line. `ceiling` is the one-stream rate in keys/s.
    pub fn run(self, b: &Bench, ceiling: f64) -> Result<()> {
        println!("== {}: {}", self.name(), self.describe(b));
        println!("   before: {}", machine_load());
        let tools = self.tools();
        let missing = probe_ours(self, b)?;
        if let Some(why) = &missing {
            println!("   NOTE: ours is not measured: {why}");
        }
        let mut runs: Vec<Vec<Run>> = tools.iter().map(|_| Vec::new()).collect();
        for round in 1..=b.runs {
            for (tool, runs) in tools.iter().zip(&mut runs) {
                if *tool == Tool::Ours && missing.is_some() {
                    continue;
                }
                let run = self.run_once(b, *tool, round)?;
                println!(
                    "   run {round}/{} {:<24} {}",
                    b.runs,
                    tool.label(),
                    describe_run(&run)
                );
                runs.push(run);
            }
        }
        println!("   after: {}", machine_load());
        let mut result = Vec::new();
        for (tool, runs) in tools.iter().zip(&runs) {
            // A run that failed or did not verify has no meaningful time.
            let good: Vec<&Run> = runs.iter().filter(|r| r.outcome.is_ok()).collect();
            let secs: Vec<f64> = good.iter().filter_map(|r| r.secs).collect();
            let med = median(&secs);
            let moved = median(&good.iter().map(|r| r.moved as f64).collect::<Vec<_>>());
            let rate = med.zip(moved).map(|(s, m)| m / s);
            let rss = runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
            let list = secs
                .iter()
                .map(|s| format!("{s:.3}"))
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "   {:<26} median {} s over {} of {} runs verified [{list}], {} keys/s ({} MB/s), peak RSS {:.1} MiB",
                tool.label(),
                na(med, 3),
                secs.len(),
                runs.len(),
                na(rate, 0),
                na(rate.map(|r| r * self.value_bytes(b) as f64 / 1e6), 1),
                rss as f64 / 1024.0
            );
            result.push((
                med,
                rate,
                !runs.is_empty() && runs.iter().all(|r| r.outcome.is_ok()),
            ));
        }
        let (cli_s, _, cli_ok) = result[0];
        let (ours_s, ours_rate, ours_ok) = result[1];
        println!(
            "RESULT {} keys={} redis_cli_s={} ours_s={} speedup={} ours_keys_per_s={} ceiling_keys_per_s={ceiling:.0} ceiling_ratio={} verified={}",
            self.name(),
            if self == Scenario::Bigkeys {
                b.big_keys
            } else {
                b.keys
            },
            na(cli_s, 3),
            na(ours_s, 3),
            na(cli_s.zip(ours_s).map(|(c, o)| c / o), 2),
            na(ours_rate, 0),
            na(ours_rate.map(|r| r / ceiling), 2),
            if cli_ok && ours_ok && missing.is_none() {
                "yes"
            } else {
                "no"
            }
        );
        Ok(())
    }
}

/// The one-stream ceiling, measured `b.runs` times on fresh 3-master clusters; prints each run
/// and, when `report`, the RESULT line. Returns the median rate in keys/s.
pub fn measure_ceiling(b: &Bench, report: bool) -> Result<f64> {
    println!("== ceiling: {}", Scenario::Ceiling.describe(b));
    println!("   before: {}", machine_load());
    let mut rates = Vec::new();
    let mut all_ok = true;
    for round in 1..=b.runs {
        let cluster = Cluster::start(&b.work, 3)?;
        cluster.init(&b.plugin, 3)?;
        let run = ceiling::measure(&cluster, &b.rt, b.ceiling_keys)?;
        let rate = run.keys as f64 / run.secs;
        let verdict = match &run.verified {
            Ok(()) => "verified".to_string(),
            Err(e) => format!("NOT VERIFIED: {e}"),
        };
        println!(
            "   run {round}/{} one stream: {:.3} s, {} keys, {rate:.0} keys/s, {verdict}",
            b.runs, run.secs, run.keys
        );
        all_ok &= run.verified.is_ok();
        rates.push(rate);
    }
    let rate = median(&rates).context("no ceiling run")?;
    println!("   after: {}", machine_load());
    println!(
        "   one-stream ceiling: median {rate:.0} keys/s over {} runs",
        rates.len()
    );
    if report {
        println!(
            "RESULT ceiling keys={} redis_cli_s=NA ours_s=NA speedup=NA ours_keys_per_s=NA ceiling_keys_per_s={rate:.0} ceiling_ratio=NA verified={}",
            b.ceiling_keys,
            if all_ok { "yes" } else { "no" }
        );
    }
    Ok(rate)
}

/// Whether this plugin has the commands `scenario` needs: each of our steps, run with `--help`
/// appended, must be accepted (clap rejects an unknown subcommand or option before it looks at
/// `--help`). `Some` says what is missing.
fn probe_ours(scenario: Scenario, b: &Bench) -> Result<Option<String>> {
    let fake = Master {
        id: "0".repeat(40),
        addr: "127.0.0.1:1".to_string(),
        ranges: vec![(0, 0)],
    };
    let targets = Targets {
        seed: "127.0.0.1:1".to_string(),
        new_node: "127.0.0.1:2".to_string(),
        from_to: (scenario != Scenario::Rebalance).then(|| (fake.clone(), fake)),
    };
    for step in scenario.steps(Tool::Ours, &b.plugin, &targets) {
        let out = Command::new(&step.program)
            .args(&step.args)
            .arg("--help")
            .output()
            .with_context(|| format!("run {}", b.plugin.display()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err.lines().next().unwrap_or_default();
            return Ok(Some(format!(
                "this kubectl-redis_cluster does not accept `{}` yet ({first})",
                step.args[2..].join(" ")
            )));
        }
    }
    Ok(None)
}

/// One run as a line: time, earlier steps, keys moved, peak RSS, verdict.
fn describe_run(run: &Run) -> String {
    let before: Vec<String> = run
        .before
        .iter()
        .map(|(name, s)| format!("{name} {s:.3} s"))
        .collect();
    let before = if before.is_empty() {
        String::new()
    } else {
        format!(" ({})", before.join(", "))
    };
    let verdict = match &run.outcome {
        Ok(()) => "verified".to_string(),
        Err(e) => format!("FAILED: {e}"),
    };
    format!(
        "{} s{before}, {} keys moved, peak RSS {:.1} MiB, {verdict}",
        na(run.secs, 3),
        run.moved,
        run.peak_rss_kib as f64 / 1024.0
    )
}

/// `value` with `decimals`, or `NA`.
fn na(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "NA".to_string(), |v| format!("{v:.decimals$}"))
}

/// `n` hash tags `{bigI}` whose slots `owner` owns.
fn tags_on(seed: &str, owner: &Master, n: usize) -> Result<Vec<String>> {
    let mut tags = Vec::new();
    for i in 0.. {
        let tag = format!("{{big{i}}}");
        if owner.owns(topo::keyslot(seed, &tag)?) {
            tags.push(tag);
            if tags.len() == n {
                break;
            }
        }
    }
    Ok(tags)
}

/// `&str`s as owned strings.
fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(ToString::to_string).collect()
}
