//! `-o json` results of the commands that change one node or the StatefulSet, each written
//! with [`super::Ctx::print_json`] (which adds the `schema`). The slot-moving commands write
//! [`super::moving::MoveReport`], `status` its own report, `init` and `fix` theirs.

use serde::Serialize;

/// The result of `add-node`, `del-node` or `failover`.
#[derive(Debug, Serialize)]
pub struct NodeChange {
    /// What happened: `added`, `removed`, `reset` (a removal an earlier run stopped before
    /// its reset), `promoted`, `planned` (`--dry-run`) or `nothing_to_do`.
    pub result: &'static str,
    /// The node's address.
    pub node: String,
    /// Its id.
    pub id: String,
    /// Its role once the command is done (`master`, `replica`); `null` once removed.
    pub role: Option<&'static str>,
    /// The steps planned (`--dry-run`) or taken, in order ([`crate::plan::steps::Step`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<crate::plan::steps::Step>,
}

/// The result of `scale`.
#[derive(Debug, Serialize)]
pub struct ScaleChange {
    /// `scaled`, `planned` (`--dry-run`) or `nothing_to_do`.
    pub result: &'static str,
    /// The StatefulSet.
    pub statefulset: String,
    /// Masters asked for.
    pub masters: usize,
    /// Replicas per master.
    pub replicas_per_master: usize,
    /// The plan: `direction`, `from_pods`, `to_pods` and every `steps` (`step`:
    /// `scale_statefulset`, `join`, `promote`, `move_slots` with `keys`, `replicate`,
    /// `forget`, `reset`, `delete_claim`).
    #[serde(flatten)]
    pub plan: crate::plan::scale::ScalePlan,
    /// With `--dry-run`: the topology the plan was made against, for `apply -f`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// The result of `deploy` or `destroy`.
#[derive(Debug, Serialize)]
pub struct ObjectsChange {
    /// `applied`, `deleted` or `planned` (`--dry-run`).
    pub result: &'static str,
    /// Each object, `kind/name`.
    pub objects: Vec<String>,
}
