//! Everything people and scripts see: styles, tables, progress lines, prompts, and the
//! renderers of each command's result (human table or `-o json`).

pub mod json;
pub mod progress;
pub mod prompt;
pub mod reply;
pub mod reporter;
pub mod status;
pub mod steps;
pub mod styles;
pub mod table;

pub use reporter::Reporter;
pub use styles::{ColorChoice, Styles};

/// `-o/--output`: how results are printed on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
pub enum OutputFormat {
    /// A table for people.
    #[default]
    Table,
    /// One JSON document, schema documented on each command's output type.
    Json,
}
