//! Confirmation before changes: `--yes` skips it; on a terminal we ask; without a terminal
//! and without `--yes` a destructive change is refused rather than assumed.

use std::io::{BufRead, Write};

/// Why we did not proceed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotConfirmed {
    /// The user said no.
    #[error("cancelled; nothing was changed")]
    Declined,
    /// No terminal to ask on.
    #[error("refusing to {action} without confirmation: no terminal to ask on")]
    NoTerminal {
        /// What would have been done.
        action: String,
    },
}

/// Asks `question` unless `yes`; `interactive` tells whether stdin and stderr are terminals.
pub fn confirm(
    question: &str,
    action: &str,
    yes: bool,
    interactive: bool,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<(), NotConfirmed> {
    if yes {
        return Ok(());
    }
    if !interactive {
        return Err(NotConfirmed::NoTerminal {
            action: action.to_string(),
        });
    }
    // Prompting is best effort; an unwritable stderr still gets the answer read.
    let _ = write!(output, "{question} [y/N] ");
    let _ = output.flush();
    let mut answer = String::new();
    let _ = input.read_line(&mut answer);
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(NotConfirmed::Declined),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(yes: bool, interactive: bool, typed: &str) -> Result<(), NotConfirmed> {
        let mut input = typed.as_bytes();
        confirm(
            "Proceed?",
            "scale down",
            yes,
            interactive,
            &mut input,
            &mut Vec::new(),
        )
    }

    #[test]
    fn yes_skips_the_question() {
        assert_eq!(ask(true, false, ""), Ok(()));
    }

    #[test]
    fn only_an_explicit_yes_proceeds() {
        assert_eq!(ask(false, true, "y\n"), Ok(()));
        assert_eq!(ask(false, true, "YES\n"), Ok(()));
        assert_eq!(ask(false, true, "\n"), Err(NotConfirmed::Declined));
        assert_eq!(ask(false, true, "nope\n"), Err(NotConfirmed::Declined));
    }

    #[test]
    fn without_a_terminal_it_refuses_and_names_what_it_would_have_done() {
        let err = ask(false, false, "y\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to scale down without confirmation: no terminal to ask on"
        );
    }
}
