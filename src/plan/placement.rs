//! The one replica placement rule: a replica follows, among the masters with room, one in
//! another failure domain than its own; then the one with the fewest replicas; then one none
//! of whose replicas shares its domain; then the lowest id. `add-node`, `del-node` (replicas
//! of a leaving master) and `scale` (roles) place one replica at a time with [`pick_master`];
//! `init` places a whole layout at once by the same rule ([`super::layout`]: a matching, so
//! no replica shares its master's domain whenever any assignment of all of them allows it).

use crate::topology::NodeId;

/// A master that can take a replica, as the rule sees it.
#[derive(Clone, Debug)]
pub struct Seat<'a> {
    /// The master.
    pub master: &'a NodeId,
    /// Its failure domain.
    pub domain: &'a str,
    /// The failure domains of the replicas it has.
    pub replica_domains: Vec<&'a str>,
}

/// The master a replica in `domain` should follow among `seats` (masters with room), by the
/// rule above; none when there is no seat.
pub fn pick_master<'a>(seats: impl IntoIterator<Item = Seat<'a>>, domain: &str) -> Option<NodeId> {
    seats
        .into_iter()
        .min_by_key(|s| {
            (
                s.domain == domain,
                s.replica_domains.len(),
                s.replica_domains.contains(&domain),
                s.master.clone(),
            )
        })
        .map(|s| s.master.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::fixture_id;

    fn seat<'a>(master: &'a NodeId, domain: &'a str, replicas: &[&'a str]) -> Seat<'a> {
        Seat {
            master,
            domain,
            replica_domains: replicas.to_vec(),
        }
    }

    #[test]
    fn another_domain_first_then_fewest_replicas_then_apart_from_siblings_then_lowest_id() {
        let (a, b, c) = (fixture_id(0), fixture_id(1), fixture_id(2));
        // Another domain wins over fewer replicas.
        assert_eq!(
            pick_master([seat(&a, "z1", &[]), seat(&b, "z2", &["z3"])], "z1"),
            Some(b.clone())
        );
        // Then the fewest replicas.
        assert_eq!(
            pick_master([seat(&a, "z2", &["z3"]), seat(&b, "z3", &[])], "z1"),
            Some(b.clone())
        );
        // Then a master none of whose replicas shares the domain.
        assert_eq!(
            pick_master([seat(&a, "z2", &["z1"]), seat(&b, "z3", &["z2"])], "z1"),
            Some(b.clone())
        );
        // Then the lowest id.
        assert_eq!(
            pick_master([seat(&c, "z2", &[]), seat(&a, "z3", &[])], "z1"),
            Some(a.clone())
        );
        assert_eq!(pick_master(Vec::new(), "z1"), None);
    }
}
