//! The shape of a new cluster: which candidates become masters with which slots, and which
//! become replicas of whom, spreading masters over failure domains and keeping each replica
//! out of its master's domain whenever the candidates allow it.

use std::collections::BTreeMap;

use crate::topology::{SLOT_COUNT, SlotRange};

/// Fewest masters a Redis Cluster can have and still elect a failover majority.
pub const MIN_MASTERS: usize = 3;

/// A node that may join the new cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// How people name it: a pod name or `ip:port`.
    pub name: String,
    /// Failure domain: a Kubernetes node or zone, or the host for plain addresses.
    pub domain: String,
}

/// Index into the candidate list.
pub type CandidateIdx = usize;

/// The planned roles of every candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Masters and their slot ranges, in slot order.
    pub masters: Vec<(CandidateIdx, SlotRange)>,
    /// `(replica, master)` pairs.
    pub replicas: Vec<(CandidateIdx, CandidateIdx)>,
}

/// Why no layout can be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    /// Not enough nodes for 3 masters.
    #[error(
        "{nodes} node(s) with {replicas} replica(s) per master make {masters} master(s); a cluster needs at least {MIN_MASTERS}"
    )]
    TooFewMasters {
        /// Candidates given.
        nodes: usize,
        /// Replicas per master asked for.
        replicas: usize,
        /// Masters that would result.
        masters: usize,
    },
    /// The node count is not a multiple of `1 + replicas`.
    #[error(
        "{nodes} node(s) cannot be split into groups of 1 master + {replicas} replica(s); use a multiple of {}",
        replicas + 1
    )]
    NotDivisible {
        /// Candidates given.
        nodes: usize,
        /// Replicas per master asked for.
        replicas: usize,
    },
}

/// Splits all slots into `n` contiguous ranges whose sizes differ by at most one.
pub fn even_slot_split(n: usize) -> Vec<SlotRange> {
    let total = usize::from(SLOT_COUNT);
    (0..n)
        .map(|i| SlotRange {
            // i * total / n < total ≤ u16::MAX + 1, so both bounds fit in u16.
            start: (i * total / n) as u16,
            end: ((i + 1) * total / n - 1) as u16,
        })
        .collect()
}

/// Plans a new cluster over `candidates` with `replicas` replicas per master.
///
/// Deterministic: the same candidates in the same order give the same layout, which is what
/// lets an interrupted `init` recognise its own half-done work.
pub fn plan_layout(candidates: &[Candidate], replicas: usize) -> Result<Layout, LayoutError> {
    let nodes = candidates.len();
    if !nodes.is_multiple_of(replicas + 1) {
        return Err(LayoutError::NotDivisible { nodes, replicas });
    }
    let masters = nodes / (replicas + 1);
    if masters < MIN_MASTERS {
        return Err(LayoutError::TooFewMasters {
            nodes,
            replicas,
            masters,
        });
    }
    let order = interleave_domains(candidates);
    let (master_idx, replica_idx) = order.split_at(masters);
    let mut master_idx = master_idx.to_vec();
    master_idx.sort_unstable();
    let slot_ranges = even_slot_split(masters);
    let replicas = place_replicas(candidates, &master_idx, replica_idx, replicas);
    Ok(Layout {
        masters: master_idx.into_iter().zip(slot_ranges).collect(),
        replicas,
    })
}

/// Candidate indices taking one from each domain in turn (domains in order of first
/// appearance), so the first `m` picks span as many domains as possible.
fn interleave_domains(candidates: &[Candidate]) -> Vec<CandidateIdx> {
    let mut by_domain: Vec<(&str, Vec<CandidateIdx>)> = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        match by_domain.iter_mut().find(|(d, _)| *d == c.domain) {
            Some((_, members)) => members.push(i),
            None => by_domain.push((&c.domain, vec![i])),
        }
    }
    let rounds = by_domain.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
    (0..rounds)
        .flat_map(|round| {
            by_domain
                .iter()
                .filter_map(move |(_, members)| members.get(round).copied())
        })
        .collect()
}

/// Gives each replica a master by the placement rule of [`super::placement`] (another
/// domain, then the fewest replicas), for the whole layout at once: a maximum matching
/// (Kuhn's augmenting paths) over the pairs
/// whose domains differ, so no replica shares its master's domain whenever any assignment
/// allows it; replicas left over take the master with the most room. Deterministic.
fn place_replicas(
    candidates: &[Candidate],
    masters: &[CandidateIdx],
    replicas: &[CandidateIdx],
    per_master: usize,
) -> Vec<(CandidateIdx, CandidateIdx)> {
    // Seat k of master j is `j * per_master + k`; `seat_of[seat]` holds a replica position.
    let seats = masters.len() * per_master;
    let mut seat_of: Vec<Option<usize>> = vec![None; seats];
    let apart = |r: usize, seat: usize| {
        candidates[replicas[r]].domain != candidates[masters[seat / per_master]].domain
    };
    for r in 0..replicas.len() {
        let mut visited = vec![false; seats];
        augment(r, &apart, &mut seat_of, &mut visited);
    }
    let mut assigned: Vec<Option<CandidateIdx>> = vec![None; replicas.len()];
    for (seat, r) in seat_of.iter().enumerate() {
        if let Some(r) = r {
            assigned[*r] = Some(masters[seat / per_master]);
        }
    }
    let mut load: BTreeMap<CandidateIdx, usize> = masters.iter().map(|m| (*m, 0)).collect();
    for m in assigned.iter().flatten() {
        *load.entry(*m).or_default() += 1;
    }
    let mut out = Vec::new();
    for (r, m) in replicas.iter().zip(assigned) {
        let m = match m {
            Some(m) => m,
            None => {
                // The seats number exactly the replicas, so a master with room remains.
                let (m, _) = load
                    .iter()
                    .filter(|(_, n)| **n < per_master)
                    .min_by_key(|(m, n)| (**n, **m))
                    .expect("replica count matches master capacity");
                let m = *m;
                *load.entry(m).or_default() += 1;
                m
            }
        };
        out.push((*r, m));
    }
    out.sort_unstable();
    out
}

/// Tries to seat replica `r` on a seat whose master is in another domain, moving seated
/// replicas along an augmenting path when needed.
fn augment(
    r: usize,
    apart: &dyn Fn(usize, usize) -> bool,
    seat_of: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    for seat in 0..seat_of.len() {
        if visited[seat] || !apart(r, seat) {
            continue;
        }
        visited[seat] = true;
        let free = match seat_of[seat] {
            None => true,
            Some(other) => augment(other, apart, seat_of, visited),
        };
        if free {
            seat_of[seat] = Some(r);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn candidates(domains: &[&str]) -> Vec<Candidate> {
        domains
            .iter()
            .enumerate()
            .map(|(i, d)| Candidate {
                name: format!("redis-{i}"),
                domain: d.to_string(),
            })
            .collect()
    }

    #[test]
    fn six_nodes_on_one_host_make_three_masters_with_one_replica_each() {
        let layout = plan_layout(&candidates(&["h"; 6]), 1).unwrap();
        assert_eq!(
            layout.masters,
            vec![
                (
                    0,
                    SlotRange {
                        start: 0,
                        end: 5460
                    }
                ),
                (
                    1,
                    SlotRange {
                        start: 5461,
                        end: 10921
                    }
                ),
                (
                    2,
                    SlotRange {
                        start: 10922,
                        end: 16383
                    }
                ),
            ]
        );
        assert_eq!(layout.replicas, vec![(3, 0), (4, 1), (5, 2)]);
    }

    #[test]
    fn replicas_avoid_their_masters_host() {
        // Two hosts, three nodes each: masters spread a/b/a, and no replica shares its
        // master's host.
        let c = candidates(&["a", "a", "a", "b", "b", "b"]);
        let layout = plan_layout(&c, 1).unwrap();
        let masters: Vec<usize> = layout.masters.iter().map(|(m, _)| *m).collect();
        assert_eq!(masters, vec![0, 1, 3]);
        for (r, m) in &layout.replicas {
            assert_ne!(
                c[*r].domain, c[*m].domain,
                "replica {r} shares a host with master {m}"
            );
        }
    }

    #[test]
    fn counts_that_cannot_form_a_cluster_are_refused() {
        assert_eq!(
            plan_layout(&candidates(&["h"; 4]), 1),
            Err(LayoutError::TooFewMasters {
                nodes: 4,
                replicas: 1,
                masters: 2
            })
        );
        assert_eq!(
            plan_layout(&candidates(&["h"; 7]), 1),
            Err(LayoutError::NotDivisible {
                nodes: 7,
                replicas: 1
            })
        );
        assert_eq!(
            LayoutError::NotDivisible {
                nodes: 7,
                replicas: 1
            }
            .to_string(),
            "7 node(s) cannot be split into groups of 1 master + 1 replica(s); use a multiple of 2"
        );
    }

    #[test]
    fn three_masters_without_replicas_are_allowed() {
        let layout = plan_layout(&candidates(&["h"; 3]), 0).unwrap();
        assert_eq!(layout.masters.len(), 3);
        assert!(layout.replicas.is_empty());
    }

    proptest! {
        #[test]
        fn every_layout_covers_all_slots_once_and_fills_every_master(
            masters in 3usize..12,
            replicas in 0usize..3,
            domain_count in 1usize..5,
            seed in any::<u64>(),
        ) {
            let n = masters * (replicas + 1);
            let domains: Vec<String> =
                (0..n).map(|i| format!("d{}", (seed as usize + i * 7) % domain_count)).collect();
            let refs: Vec<&str> = domains.iter().map(String::as_str).collect();
            let c = candidates(&refs);
            let layout = plan_layout(&c, replicas).unwrap();

            let mut next = 0u32;
            for (_, r) in &layout.masters {
                prop_assert_eq!(u32::from(r.start), next);
                next = u32::from(r.end) + 1;
            }
            prop_assert_eq!(next, u32::from(SLOT_COUNT));
            let sizes: Vec<usize> = layout.masters.iter().map(|(_, r)| r.len()).collect();
            prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);

            let mut used: Vec<usize> = layout.masters.iter().map(|(m, _)| *m)
                .chain(layout.replicas.iter().map(|(r, _)| *r)).collect();
            used.sort_unstable();
            prop_assert_eq!(used, (0..n).collect::<Vec<_>>());
            for (m, _) in &layout.masters {
                prop_assert_eq!(layout.replicas.iter().filter(|(_, x)| x == m).count(), replicas);
            }
            // Masters span as many failure domains as there are, up to the master count.
            let master_domains: std::collections::BTreeSet<&str> =
                layout.masters.iter().map(|(m, _)| c[*m].domain.as_str()).collect();
            let all_domains: std::collections::BTreeSet<&str> = refs.iter().copied().collect();
            prop_assert_eq!(master_domains.len(), all_domains.len().min(masters));
        }

        #[test]
        fn with_balanced_domains_no_replica_shares_its_masters_domain(
            masters in 3usize..10,
            replicas in 1usize..3,
            domain_count in 2usize..5,
        ) {
            let n = masters * (replicas + 1);
            prop_assume!(n % domain_count == 0);
            let domains: Vec<String> = (0..n).map(|i| format!("d{}", i % domain_count)).collect();
            let refs: Vec<&str> = domains.iter().map(String::as_str).collect();
            let c = candidates(&refs);
            let layout = plan_layout(&c, replicas).unwrap();
            for (r, m) in &layout.replicas {
                prop_assert_ne!(&c[*r].domain, &c[*m].domain);
            }
        }
    }
}
