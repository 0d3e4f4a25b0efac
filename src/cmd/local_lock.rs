//! The lock of a `--seed` run, and its journal: a state file on this machine instead of a
//! Lease (there is no Kubernetes to hold one). One file per cluster under
//! `$XDG_STATE_HOME` (else `~/.local/state`)`/kubectl-redis-cluster/`, found by the ids of
//! the cluster's nodes: a run reaching the cluster through another seed, or after nodes
//! joined or left, finds the same file as long as one node id is shared. A holder is alive
//! while its process is: a killed run's lock is taken over by the next run at once. Every
//! read-and-write of the files happens under an exclusive `flock` of one guard file, so two
//! runs racing for a lock cannot both win. It only keeps apart runs on this machine.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::k8s::lease::{Holder, Taken};

/// The state file of one cluster.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The ids of the cluster's nodes when a run last took the lock.
    nodes: BTreeSet<String>,
    /// Who holds the lock; none once released with a journal kept.
    holder: Option<Holder>,
    /// The journal of the holder's plan (JSON, [`crate::plan::journal::Journal`]).
    journal: Option<String>,
}

/// The directory of the state files.
#[derive(Clone, Debug)]
pub struct LocalLocks {
    dir: PathBuf,
}

/// The lock a `--seed` run holds: its state file.
#[derive(Clone, Debug)]
pub struct LocalLock {
    locks: LocalLocks,
    file: PathBuf,
    me: Holder,
}

/// What the state files say about a cluster, for a dry run or `unlock`.
#[derive(Debug, Default)]
pub struct Found {
    /// The holder, and whether its process still runs.
    pub holder: Option<(Holder, bool)>,
    /// The journal an unfinished run left (JSON).
    pub journal: Option<String>,
    /// The state file.
    pub file: Option<PathBuf>,
}

impl LocalLocks {
    /// The user's state directory; none without `$XDG_STATE_HOME` and `$HOME`.
    pub fn for_user() -> Option<Self> {
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
        Some(Self {
            dir: base.join("kubectl-redis-cluster"),
        })
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Holds the guard file's exclusive lock while `f` runs.
    fn guarded<T>(&self, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        std::fs::create_dir_all(&self.dir)?;
        let guard = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("locks.guard"))?;
        guard.lock()?;
        let result = f();
        drop(guard);
        result
    }

    /// The state file of the cluster whose nodes are `nodes`, if any, and its state.
    /// Other clusters' files that keep nothing (no journal, and no holder or a gone one) are
    /// removed on the way.
    fn find(
        &self,
        nodes: &BTreeSet<String>,
        alive: &dyn Fn(u32) -> bool,
    ) -> io::Result<Option<(PathBuf, State)>> {
        let mut found = None;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let is_lock = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("lock-") && n.ends_with(".json"));
            if !is_lock {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let Ok(state) = serde_json::from_str::<State>(&text) else {
                continue;
            };
            if !state.nodes.is_disjoint(nodes) {
                if found.is_none() {
                    found = Some((path, state));
                }
            } else if state.journal.is_none()
                && !state.holder.as_ref().is_some_and(|h| alive(h.pid))
            {
                // Another cluster's file that keeps nothing: a leftover nobody needs.
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(found)
    }

    fn write(path: &Path, state: &State) -> io::Result<()> {
        let text = serde_json::to_string_pretty(state).map_err(io::Error::other)?;
        let part = path.with_extension("json.part");
        std::fs::write(&part, text)?;
        std::fs::rename(part, path)
    }

    /// What the files say about the cluster of `nodes`; `alive(pid)` tells whether a
    /// process of the plugin runs with that id.
    pub fn look(&self, nodes: &BTreeSet<String>, alive: &dyn Fn(u32) -> bool) -> io::Result<Found> {
        self.guarded(|| {
            Ok(match self.find(nodes, alive)? {
                None => Found::default(),
                Some((file, state)) => Found {
                    holder: state.holder.map(|h| {
                        let live = alive(h.pid);
                        (h, live)
                    }),
                    journal: state.journal,
                    file: Some(file),
                },
            })
        })
    }

    /// Takes the lock of the cluster of `nodes` for `me` unless a live run holds it: a held
    /// lock whose process is gone is taken over, with the journal it kept if it is `me`'s
    /// operation's.
    pub fn take(
        &self,
        nodes: &BTreeSet<String>,
        me: &Holder,
        alive: &dyn Fn(u32) -> bool,
    ) -> io::Result<(Taken, Option<LocalLock>)> {
        self.guarded(|| {
            let (file, state) = match self.find(nodes, alive)? {
                Some(found) => found,
                None => {
                    let first = nodes.iter().next().map_or("none", String::as_str);
                    let name: String = first.chars().filter(char::is_ascii_alphanumeric).collect();
                    (self.dir.join(format!("lock-{name}.json")), State::default())
                }
            };
            let lapsed = match state.holder {
                Some(h) if h.same_run(me) => None,
                Some(h) if alive(h.pid) => return Ok((Taken::Held(h), None)),
                Some(h) => {
                    let why = format!(
                        "its process {} on this machine is gone (killed or crashed)",
                        h.pid
                    );
                    Some((h, why))
                }
                None => None,
            };
            // Only `me`'s operation continues a journal; another command drops it, as the
            // Lease does (that command changes what the plan was made against).
            let journal = state.journal.filter(|j| {
                serde_json::from_str::<crate::plan::journal::Journal>(j)
                    .is_ok_and(|j| j.operation == me.operation)
            });
            let mut holder = me.clone();
            holder.since = Some(k8s_openapi::jiff::Timestamp::now());
            let mut known = state.nodes;
            known.extend(nodes.iter().cloned());
            Self::write(
                &file,
                &State {
                    nodes: known,
                    holder: Some(holder),
                    journal: journal.clone(),
                },
            )?;
            let lock = LocalLock {
                locks: self.clone(),
                file,
                me: me.clone(),
            };
            Ok((Taken::Ours { lapsed, journal }, Some(lock)))
        })
    }

    /// Removes the lock of the cluster of `nodes` whoever holds it (`unlock`), journal
    /// included; the holder it removed.
    pub fn remove(&self, nodes: &BTreeSet<String>) -> io::Result<Option<Holder>> {
        self.guarded(|| {
            let Some((file, state)) = self.find(nodes, &|_| true)? else {
                return Ok(None);
            };
            std::fs::remove_file(file)?;
            Ok(state.holder)
        })
    }
}

impl LocalLock {
    /// The file it lives in.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Writes (or with `None` removes) the journal, if this run still holds the lock.
    pub fn save_journal(&self, journal: Option<&str>) -> io::Result<()> {
        self.locks.guarded(|| {
            let mut state = self.read()?;
            if !state.holder.as_ref().is_some_and(|h| h.same_run(&self.me)) {
                return Err(io::Error::other("another run holds the lock now"));
            }
            state.journal = journal.map(str::to_string);
            LocalLocks::write(&self.file, &state)
        })
    }

    /// Lets go of the lock: the file stays, holder-less, while it keeps a journal the run
    /// did not finish (`keep_journal`), for the same command run again; else it goes.
    pub fn release(&self, keep_journal: bool) -> io::Result<()> {
        self.locks.guarded(|| {
            let mut state = self.read()?;
            if !state.holder.as_ref().is_some_and(|h| h.same_run(&self.me)) {
                return Ok(());
            }
            if keep_journal && state.journal.is_some() {
                state.holder = None;
                LocalLocks::write(&self.file, &state)
            } else {
                std::fs::remove_file(&self.file)
            }
        })
    }

    fn read(&self) -> io::Result<State> {
        match std::fs::read_to_string(&self.file) {
            Ok(text) => serde_json::from_str(&text).map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run(pid: u32, operation: &str) -> Holder {
        Holder {
            pid,
            ..Holder::me(operation)
        }
    }

    fn locks() -> (tempfile::TempDir, LocalLocks) {
        let dir = tempfile::tempdir().unwrap();
        let locks = LocalLocks {
            dir: dir.path().join("state"),
        };
        (dir, locks)
    }

    #[test]
    fn a_second_run_on_the_same_cluster_is_refused_while_the_first_runs() {
        let (_dir, locks) = locks();
        let alive = |_: u32| true;
        let (taken, first) = locks
            .take(&ids(&["a", "b"]), &run(10, "scale"), &alive)
            .unwrap();
        assert!(matches!(
            taken,
            Taken::Ours {
                lapsed: None,
                journal: None
            }
        ));
        // Through another node of the same cluster, after a node joined.
        let (taken, none) = locks
            .take(&ids(&["b", "c"]), &run(11, "fix"), &alive)
            .unwrap();
        assert!(matches!(taken, Taken::Held(h) if h.pid == 10 && h.operation == "scale"));
        assert!(none.is_none());
        // Another cluster is not held up.
        let (taken, _) = locks.take(&ids(&["x"]), &run(12, "fix"), &alive).unwrap();
        assert!(matches!(taken, Taken::Ours { .. }));
        first.unwrap().release(true).unwrap();
        let (taken, _) = locks.take(&ids(&["c"]), &run(11, "fix"), &alive).unwrap();
        assert!(matches!(taken, Taken::Ours { lapsed: None, .. }));
    }

    #[test]
    fn a_gone_holder_is_taken_over_with_its_journal_by_the_same_operation_only() {
        let (_dir, locks) = locks();
        let (_, first) = locks
            .take(&ids(&["a"]), &run(10, "reshard --slots 5"), &|_| true)
            .unwrap();
        first
            .unwrap()
            .save_journal(Some(r#"{"operation":"reshard --slots 5","targets":[]}"#))
            .unwrap();
        let gone = |pid: u32| pid != 10;
        let (taken, other) = locks.take(&ids(&["a"]), &run(11, "fix"), &gone).unwrap();
        assert!(
            matches!(taken, Taken::Ours { lapsed: Some((h, _)), journal: None } if h.pid == 10)
        );
        other.unwrap().release(true).unwrap();
        // fix dropped reshard's journal: a reshard after it plans anew.
        let (taken, _) = locks
            .take(&ids(&["a"]), &run(12, "reshard --slots 5"), &gone)
            .unwrap();
        assert!(matches!(taken, Taken::Ours { journal: None, .. }));
    }

    #[test]
    fn a_released_run_keeps_an_unfinished_journal_for_the_same_command_and_drops_a_finished_one() {
        let (_dir, locks) = locks();
        let op = "reshard --slots 5";
        let journal = r#"{"operation":"reshard --slots 5","targets":[]}"#;
        let (_, first) = locks.take(&ids(&["a"]), &run(10, op), &|_| true).unwrap();
        let first = first.unwrap();
        first.save_journal(Some(journal)).unwrap();
        first.release(true).unwrap();
        let (taken, again) = locks.take(&ids(&["a"]), &run(11, op), &|_| true).unwrap();
        assert!(matches!(taken, Taken::Ours { lapsed: None, journal: Some(j) } if j == journal));
        let again = again.unwrap();
        again.release(false).unwrap();
        assert!(!again.file().exists(), "nothing left to keep");
        assert!(locks.look(&ids(&["a"]), &|_| true).unwrap().file.is_none());
    }

    #[test]
    fn unlock_removes_a_lock_whoever_holds_it() {
        let (_dir, locks) = locks();
        locks
            .take(&ids(&["a"]), &run(10, "scale"), &|_| true)
            .unwrap();
        let found = locks.look(&ids(&["a"]), &|_| true).unwrap();
        assert_eq!(
            found.holder.map(|(h, live)| (h.pid, live)),
            Some((10, true))
        );
        assert_eq!(locks.remove(&ids(&["a"])).unwrap().map(|h| h.pid), Some(10));
        assert!(locks.remove(&ids(&["a"])).unwrap().is_none());
    }
}
