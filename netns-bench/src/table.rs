//! Aligned text tables for people: a header row, a rule, then rows; the first column is
//! left-aligned and every other column right-aligned, so numbers line up on their units.

use std::fmt::Write as _;
use std::time::Duration;

/// A table of strings, rendered with every column as wide as its widest cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    ///
    /// # Panics
    ///
    /// If the row's length differs from the number of headers.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Table {
        let cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        assert_eq!(
            cells.len(),
            self.headers.len(),
            "a table row needs one cell per header ({:?})",
            self.headers
        );
        self.rows.push(cells);
        self
    }

    /// Renders the table, each line ending in a newline and without trailing spaces.
    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut text = String::new();
            for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
                if i == 0 {
                    let _ = write!(text, "{cell:<width$}");
                } else {
                    let _ = write!(text, "  {cell:>width$}");
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.headers);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule);
        for row in &self.rows {
            line(row);
        }
        out
    }
}

/// A wall-clock time as `time(1)` prints it: `m:ss.cc`.
pub fn clock(d: Duration) -> String {
    let centis = (d.as_secs_f64() * 100.0).round() as u64;
    format!(
        "{}:{:02}.{:02}",
        centis / 6000,
        centis / 100 % 60,
        centis % 100
    )
}

/// Seconds with two decimals and a unit: `23.14 s`.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// A short duration with a fitting unit: `850 ns`, `12.3 us`, `0.70 ms`, `9.1 ms`, `1.25 s`.
pub fn short(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e5 {
        format!("{:.1} us", ns / 1e3)
    } else if ns < 1e6 {
        format!("{:.0} us", ns / 1e3)
    } else if ns < 1e7 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns < 1e9 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_numbers_right_align() {
        let mut t = Table::new(["mode", "elapsed", "CPU"]);
        t.row(["exclusive", "1:39.85", "23%"])
            .row(["shared", "1:08.34", "98%"]);
        let text = t.render();
        let expected = "\
mode       elapsed  CPU
---------  -------  ---
exclusive  1:39.85  23%
shared     1:08.34  98%
";
        assert_eq!(text, expected);
        let widths: Vec<usize> = text.lines().map(str::len).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{widths:?}");
    }

    #[test]
    fn wide_cells_widen_their_column_only() {
        let mut t = Table::new(["a", "b"]);
        t.row(["x", "1"]).row(["y", "12345"]);
        assert_eq!(t.render(), "a      b\n-  -----\nx      1\ny  12345\n");
    }

    #[test]
    #[should_panic(expected = "one cell per header")]
    fn short_row_is_refused() {
        Table::new(["a", "b"]).row(["x"]);
    }

    #[test]
    fn durations_format_like_time() {
        assert_eq!(clock(Duration::from_millis(99_850)), "1:39.85");
        assert_eq!(clock(Duration::from_millis(68_340)), "1:08.34");
        assert_eq!(clock(Duration::from_millis(5)), "0:00.01");
        assert_eq!(clock(Duration::from_secs(3600)), "60:00.00");
        assert_eq!(secs(Duration::from_millis(23_140)), "23.14 s");
        assert_eq!(short(Duration::from_nanos(850)), "850 ns");
        assert_eq!(short(Duration::from_nanos(12_340)), "12.3 us");
        assert_eq!(short(Duration::from_micros(700)), "700 us");
        assert_eq!(short(Duration::from_micros(9_100)), "9.10 ms");
        assert_eq!(short(Duration::from_millis(25)), "25.0 ms");
        assert_eq!(short(Duration::from_millis(1_250)), "1.25 s");
    }
}
