//! Finding a node by what a user typed: a full node id, a unique id prefix (6+ characters),
//! or `ip:port`. Pure; Kubernetes pod names are resolved to endpoints before this.

use super::endpoint::Endpoint;
use super::node_line::{NodeId, NodeLine};
use super::view::ClusterView;

/// Why a typed node name matched no single node.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LookupError {
    /// Nothing matched.
    #[error("no node `{typed}` in this cluster; known nodes: {known}")]
    NotFound {
        /// What was typed.
        typed: String,
        /// A short list of valid names.
        known: String,
    },
    /// A prefix matched several ids.
    #[error("`{typed}` matches several nodes ({matches}); type more of the id")]
    Ambiguous {
        /// What was typed.
        typed: String,
        /// The matching ids.
        matches: String,
    },
}

/// Shortest id prefix accepted, so a typo rarely hits another node.
const MIN_PREFIX: usize = 6;

/// Finds the node `typed` names among every node the view knows.
pub fn find_node<'a>(view: &'a ClusterView, typed: &str) -> Result<&'a NodeLine, LookupError> {
    let known = view.known_nodes();
    if let Ok(endpoint) = typed.parse::<Endpoint>() {
        if let Some(report) = view.report_at(&endpoint) {
            return Ok(report.myself());
        }
        if let Some(line) = known
            .values()
            .find(|l| l.addr.ip == endpoint.host && l.addr.port == endpoint.port)
        {
            return Ok(line);
        }
    }
    let matches: Vec<&&NodeLine> = if typed.len() >= MIN_PREFIX {
        known
            .values()
            .filter(|l| l.id.0.starts_with(typed))
            .collect()
    } else {
        known.values().filter(|l| l.id.0 == typed).collect()
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(LookupError::NotFound {
            typed: typed.to_string(),
            known: known
                .values()
                .take(8)
                .map(|l| format!("{} ({})", l.id.short(), l.addr.endpoint()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
        many => Err(LookupError::Ambiguous {
            typed: typed.to_string(),
            matches: many
                .iter()
                .map(|l| l.id.short())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The endpoint of a node by id, from its own report or from what peers say.
pub fn endpoint_of(view: &ClusterView, id: &NodeId) -> Option<Endpoint> {
    view.report(id).map(|r| r.endpoint.clone()).or_else(|| {
        view.known_nodes()
            .get(id)
            .filter(|l| l.addr.is_known())
            .map(|l| Endpoint::new(l.addr.ip.clone(), l.addr.port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::{Fixture, fixture_id};

    #[test]
    fn a_node_is_found_by_address_full_id_or_unique_prefix() {
        let view = Fixture::healthy(3, 0).view();
        assert_eq!(
            find_node(&view, "127.0.0.1:7001").unwrap().id,
            fixture_id(1)
        );
        assert_eq!(
            find_node(&view, &fixture_id(2).0).unwrap().id,
            fixture_id(2)
        );
        assert_eq!(find_node(&view, "02aaaa").unwrap().id, fixture_id(2));
    }

    #[test]
    fn short_ambiguous_or_unknown_names_are_refused_with_the_choices() {
        let view = Fixture::healthy(3, 0).view();
        assert!(matches!(
            find_node(&view, "02aa"),
            Err(LookupError::NotFound { .. })
        ));
        let err = find_node(&view, "127.0.0.1:9999").unwrap_err();
        assert!(
            err.to_string().contains("00aaaaaa (127.0.0.1:7000)"),
            "{err}"
        );
        let mut view = view;
        view.reports[1].nodes[1].id = NodeId(format!("00aaaaaa{}", "b".repeat(32)));
        assert!(matches!(
            find_node(&view, "00aaaaaa"),
            Err(LookupError::Ambiguous { .. })
        ));
    }
}
