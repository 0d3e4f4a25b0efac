//! Colours, decided once per stream: plain by default, [`Styles::colorize`] when the stream is
//! a terminal and `NO_COLOR` is unset (or `--color always`). Renderers take `&Styles`, so tests
//! get plain text for free.

use owo_colors::Style;

/// The palette every renderer uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Styles {
    /// Healthy things.
    pub ok: Style,
    /// Things to look at.
    pub warn: Style,
    /// Problems.
    pub error: Style,
    /// Secondary text.
    pub dim: Style,
    /// Headers and names.
    pub bold: Style,
}

impl Styles {
    /// Turns colours on.
    pub fn colorize(&mut self) {
        self.ok = Style::new().green();
        self.warn = Style::new().yellow();
        self.error = Style::new().red().bold();
        self.dim = Style::new().dimmed();
        self.bold = Style::new().bold();
    }
}

/// `--color`: when to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream, given whether it is a terminal and whether `NO_COLOR` is
    /// set (passed in, so tests never touch the environment).
    pub fn should_colorize(self, is_terminal: bool, no_color_env: bool) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => is_terminal && !no_color_env,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_only_terminals_without_no_color() {
        assert!(ColorChoice::Auto.should_colorize(true, false));
        assert!(!ColorChoice::Auto.should_colorize(true, true));
        assert!(!ColorChoice::Auto.should_colorize(false, false));
        assert!(ColorChoice::Always.should_colorize(false, true));
        assert!(!ColorChoice::Never.should_colorize(true, false));
    }
}
