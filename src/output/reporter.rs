//! Progress for people, on stderr: one line per step, plain when piped, with a coloured
//! marker on a terminal. Data (tables, JSON) goes to stdout elsewhere, never here.

use std::io::Write;
use std::sync::Mutex;

use owo_colors::OwoColorize;

use super::styles::Styles;

/// Writes progress lines.
pub struct Reporter {
    styles: Styles,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Reporter {
    /// A reporter writing to `out` with `styles`.
    pub fn new(styles: Styles, out: Box<dyn Write + Send>) -> Self {
        Self {
            styles,
            out: Mutex::new(out),
        }
    }

    /// A reporter that prints nothing (tests, `-o json` callers that want silence).
    pub fn silent() -> Self {
        Self::new(Styles::default(), Box::new(std::io::sink()))
    }

    /// The styles in use.
    pub fn styles(&self) -> &Styles {
        &self.styles
    }

    /// A step starts or happens.
    pub fn step(&self, msg: impl std::fmt::Display) {
        self.line(&format!("{} {msg}", "•".style(self.styles.dim)));
    }

    /// A step finished well.
    pub fn done(&self, msg: impl std::fmt::Display) {
        self.line(&format!("{} {msg}", "✓".style(self.styles.ok)));
    }

    /// Something worth a look, not fatal.
    pub fn warn(&self, msg: impl std::fmt::Display) {
        self.line(&format!("{} {msg}", "!".style(self.styles.warn)));
    }

    /// A raw line (plans, explanations).
    pub fn line(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // Progress is best effort: a closed stderr must not fail the operation.
        let _ = writeln!(out, "{text}");
    }
}
