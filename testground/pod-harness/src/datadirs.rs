//! Host directories standing in for volumes. A PVC-backed pod gets `data/<ns>/<claim>/`, which
//! outlives the pod like a real PersistentVolume and is removed when the PVC is deleted; a marker
//! file with the PVC's UID makes a recreated PVC of the same name start empty even if the
//! deletion was missed. A pod without a PVC gets `data/<ns>/_pods/<pod uid>/` (emptyDir-like:
//! it survives container restarts and is removed with the pod).

use anyhow::{Context, Result};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::podspec::ObjKey;

/// Marker file holding the UID of the PVC a data dir belongs to.
const MARKER: &str = ".pvc-uid";
/// Sub-directory (per namespace) for pods without a PVC; `_` cannot start a PVC name.
const POD_DIRS: &str = "_pods";

/// The data root and the set of directories currently used by a running redis-server.
#[derive(Debug)]
pub struct DataDirs {
    /// Root, e.g. `~/.cache/redis-cluster-testground/data`.
    root: PathBuf,
    /// Directory → number of holders.
    in_use: Mutex<HashMap<PathBuf, usize>>,
}

/// Holds a data directory in use until dropped.
#[derive(Debug)]
pub struct DirGuard {
    /// The shared registry.
    dirs: Arc<DataDirs>,
    /// The held directory.
    pub path: PathBuf,
}

impl Drop for DirGuard {
    /// Releases the directory.
    fn drop(&mut self) {
        let mut map = self
            .dirs
            .in_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.path) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.path);
            }
        }
    }
}

impl DataDirs {
    /// A registry rooted at `root`.
    pub fn new(root: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            root,
            in_use: Mutex::new(HashMap::new()),
        })
    }

    /// Data dir of a pod: by claim if it has one, else by pod UID.
    pub fn path_for(&self, key: &ObjKey, claim: Option<&str>, pod_uid: &str) -> PathBuf {
        match claim {
            Some(c) => self.root.join(&key.ns).join(c),
            None => self.root.join(&key.ns).join(POD_DIRS).join(pod_uid),
        }
    }

    /// Marks `path` in use and prepares it: created if missing, emptied if it belonged to another
    /// PVC (different UID in the marker), marker (re)written when `pvc_uid` is known.
    pub fn acquire(self: &Arc<Self>, path: &Path, pvc_uid: Option<&str>) -> Result<DirGuard> {
        let mut map = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(uid) = pvc_uid {
            let marker = path.join(MARKER);
            let old = fs::read_to_string(&marker).ok();
            if old.as_deref().is_some_and(|o| o.trim() != uid) {
                fs::remove_dir_all(path).with_context(|| {
                    format!("failed to empty stale data dir {}", path.display())
                })?;
            }
            fs::create_dir_all(path)
                .with_context(|| format!("failed to create data dir {}", path.display()))?;
            fs::write(&marker, uid)
                .with_context(|| format!("failed to write {}", marker.display()))?;
        } else {
            fs::create_dir_all(path)
                .with_context(|| format!("failed to create data dir {}", path.display()))?;
        }
        *map.entry(path.to_path_buf()).or_default() += 1;
        Ok(DirGuard {
            dirs: Arc::clone(self),
            path: path.to_path_buf(),
        })
    }

    /// Removes `path` unless a redis-server uses it or its marker names another PVC UID than
    /// `pvc_uid` (`None` = remove regardless of marker). `Ok(false)` means "in use, try later".
    pub fn remove_if_unused(&self, path: &Path, pvc_uid: Option<&str>) -> Result<bool> {
        let map = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        if map.contains_key(path) {
            return Ok(false);
        }
        if !path.exists() {
            return Ok(true);
        }
        if let Some(uid) = pvc_uid {
            let marker = fs::read_to_string(path.join(MARKER)).ok();
            if marker.as_deref().is_some_and(|m| m.trim() != uid) {
                return Ok(true); // belongs to a newer PVC of the same name
            }
        }
        fs::remove_dir_all(path)
            .with_context(|| format!("failed to remove data dir {}", path.display()))?;
        Ok(true)
    }

    /// PVC-backed dirs on disk whose (namespace, claim, uid) is not in `live`: left over from a
    /// PVC deleted while the harness was not watching (or from an earlier cluster).
    pub fn orphaned_claim_dirs(&self, live: &HashSet<(ObjKey, String)>) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        for (ns, claim, path) in self.subdirs() {
            if claim == POD_DIRS {
                continue;
            }
            let Ok(uid) = fs::read_to_string(path.join(MARKER)) else {
                continue;
            };
            let uid = uid.trim().to_string();
            if !live.contains(&(ObjKey::new(ns, claim), uid.clone())) {
                out.push((path, uid));
            }
        }
        out
    }

    /// Pod-UID dirs whose UID is not in `live_uids`.
    pub fn orphaned_pod_dirs(&self, live_uids: &HashSet<String>) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for (_, sub, path) in self.subdirs() {
            if sub != POD_DIRS {
                continue;
            }
            let Ok(entries) = fs::read_dir(&path) else {
                continue;
            };
            for e in entries.flatten() {
                if !live_uids.contains(e.file_name().to_string_lossy().as_ref()) {
                    out.push(e.path());
                }
            }
        }
        out
    }

    /// `(namespace, child name, path)` for every `root/<ns>/<child>` directory.
    fn subdirs(&self) -> Vec<(String, String, PathBuf)> {
        let mut out = Vec::new();
        let Ok(nss) = fs::read_dir(&self.root) else {
            return out;
        };
        for ns in nss.flatten().filter(|e| e.path().is_dir()) {
            let Ok(children) = fs::read_dir(ns.path()) else {
                continue;
            };
            for c in children.flatten().filter(|e| e.path().is_dir()) {
                out.push((
                    ns.file_name().to_string_lossy().into_owned(),
                    c.file_name().to_string_lossy().into_owned(),
                    c.path(),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh temp root for one test.
    fn root(name: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("pod-harness-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn a_recreated_pvc_of_the_same_name_starts_empty() {
        let dirs = DataDirs::new(root("recreate"));
        let key = ObjKey::new("rc", "redis-0");
        let path = dirs.path_for(&key, Some("data-redis-0"), "pod-uid");
        {
            let _g = dirs.acquire(&path, Some("pvc-1")).expect("acquire");
            fs::write(path.join("nodes.conf"), "x").expect("write");
        }
        let _g = dirs.acquire(&path, Some("pvc-1")).expect("same pvc");
        assert!(path.join("nodes.conf").exists(), "same PVC keeps its data");
        drop(_g);
        let _g = dirs.acquire(&path, Some("pvc-2")).expect("new pvc");
        assert!(!path.join("nodes.conf").exists(), "new PVC starts empty");
    }

    #[test]
    fn a_dir_in_use_is_not_removed_and_a_newer_pvcs_dir_is_kept() {
        let dirs = DataDirs::new(root("inuse"));
        let path = dirs.path_for(&ObjKey::new("rc", "p"), Some("c"), "u");
        let g = dirs.acquire(&path, Some("pvc-1")).expect("acquire");
        assert!(!dirs.remove_if_unused(&path, Some("pvc-1")).expect("check"));
        drop(g);
        assert!(
            dirs.remove_if_unused(&path, Some("pvc-0"))
                .expect("other uid")
        );
        assert!(path.exists(), "marker names another PVC: kept");
        assert!(dirs.remove_if_unused(&path, Some("pvc-1")).expect("remove"));
        assert!(!path.exists());
    }

    #[test]
    fn orphans_are_found_by_claim_uid_and_pod_uid() {
        let dirs = DataDirs::new(root("orphans"));
        let a = dirs.path_for(&ObjKey::new("rc", "p"), Some("a"), "u");
        let b = dirs.path_for(&ObjKey::new("rc", "p"), Some("b"), "u");
        let e = dirs.path_for(&ObjKey::new("rc", "p"), None, "pod-1");
        drop(dirs.acquire(&a, Some("ua")).expect("a"));
        drop(dirs.acquire(&b, Some("ub")).expect("b"));
        drop(dirs.acquire(&e, None).expect("e"));
        let live: HashSet<_> = [(ObjKey::new("rc", "a"), "ua".to_string())].into();
        assert_eq!(dirs.orphaned_claim_dirs(&live), vec![(b, "ub".to_string())]);
        assert_eq!(dirs.orphaned_pod_dirs(&HashSet::new()), vec![e]);
    }
}
