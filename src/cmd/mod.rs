//! One module per subcommand, wiring observe → plan → confirm → apply → verify. No logic of
//! their own beyond that wiring.

pub mod context;
pub mod init;
pub mod status;

pub use context::{Ctx, Outcome};
