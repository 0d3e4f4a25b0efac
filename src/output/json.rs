//! `-o json`: every command's result as one JSON document on stdout, with a `schema` field
//! naming the command and the version of its report's shape
//! (`kubectl-redis-cluster/<command>/v<N>`), so scripts can tell what they read and notice
//! when it changes. The fields are each report type's own (documented on the type).

use std::io::Write;

use serde::Serialize;

/// The report of `command`, with its schema first.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    schema: String,
    #[serde(flatten)]
    report: &'a T,
}

/// The schema name of `command`'s report.
pub fn schema(command: &str) -> String {
    format!("kubectl-redis-cluster/{command}/v{}", version(command))
}

/// The version of `command`'s report shape: 1, and 2 for `init` (typed `steps`, once
/// strings) and `fix` (typed `fixes` and `replica_marks`, once `decisions` as strings).
pub fn version(command: &str) -> u32 {
    match command {
        "init" | "fix" => 2,
        _ => 1,
    }
}

/// Writes `report` as `command`'s JSON document, pretty-printed, with a final newline.
pub fn write_report(
    out: &mut dyn Write,
    command: &str,
    report: &impl Serialize,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(
        &mut *out,
        &Envelope {
            schema: schema(command),
            report,
        },
    )?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Done {
        result: &'static str,
        slots: u64,
    }

    #[test]
    fn a_report_carries_its_schema_first_then_its_own_fields() {
        let mut out = Vec::new();
        write_report(
            &mut out,
            "rebalance",
            &Done {
                result: "moved",
                slots: 3,
            },
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\n  \"schema\": \"kubectl-redis-cluster/rebalance/v1\",\n  \"result\": \"moved\",\n  \"slots\": 3\n}\n"
        );
    }
}
