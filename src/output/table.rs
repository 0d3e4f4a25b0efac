//! A small column-aligned table, kubectl style: upper-case headers, columns sized from the
//! data, the same shape whether piped or not (only colour is dropped).

use std::io::{self, Write};

use owo_colors::{OwoColorize, Style};

/// A table being built.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<(String, Style)>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: Vec<&'static str>) -> Self {
        Self {
            headers,
            rows: Vec::new(),
        }
    }

    /// Adds a row of styled cells.
    pub fn row(&mut self, cells: Vec<(String, Style)>) {
        self.rows.push(cells);
    }

    /// Writes the table; widths come from the plain text so colour codes do not skew them.
    pub fn write(&self, out: &mut dyn Write, header_style: Style) -> io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (i, (text, _)) in row.iter().enumerate() {
                widths[i] = widths[i].max(text.chars().count());
            }
        }
        let last = self.headers.len().saturating_sub(1);
        for (i, h) in self.headers.iter().enumerate() {
            let pad = if i == last {
                0
            } else {
                widths[i] - h.len() + 3
            };
            write!(out, "{}{}", h.style(header_style), " ".repeat(pad))?;
        }
        writeln!(out)?;
        for row in &self.rows {
            for (i, (text, style)) in row.iter().enumerate() {
                let pad = if i == last {
                    0
                } else {
                    widths[i] - text.chars().count() + 3
                };
                write!(out, "{}{}", text.style(*style), " ".repeat(pad))?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_sized_from_the_widest_cell() {
        let mut t = Table::new(vec!["NAME", "ROLE"]);
        t.row(vec![
            ("redis-cluster-0".into(), Style::new()),
            ("master".into(), Style::new()),
        ]);
        t.row(vec![
            ("r1".into(), Style::new()),
            ("replica".into(), Style::new()),
        ]);
        let mut out = Vec::new();
        t.write(&mut out, Style::new()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME              ROLE\nredis-cluster-0   master\nr1                replica\n"
        );
    }
}
