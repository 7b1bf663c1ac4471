//! The cleanup backlog over time, drawn as an SVG line chart: one line per lock mode, time since
//! the run's start on the x axis, nets released but not yet freed on the y axis.

use std::path::Path;

use plotters::prelude::*;

/// One line of the chart: a label and `(seconds since start, backlog)` samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Samples in time order.
    pub points: Vec<(f64, u64)>,
}

const COLOURS: [RGBColor; 4] = [RED, BLUE, RGBColor(0, 140, 0), MAGENTA];

/// Draws `series` into the SVG file at `path`, titled `title`.
pub fn draw_backlog(path: &Path, title: &str, series: &[Series]) -> Result<(), String> {
    let max_t = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(0.0, f64::max);
    let max_y = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0);
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    let fail = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(
            0.0..max_t.max(1e-3) * 1.02,
            0u64..(max_y + max_y / 20).max(1),
        )
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("time since the run started (s)")
        .y_desc("cleanup backlog (nets)")
        .draw()
        .map_err(|e| fail(&e))?;
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| fail(&e))?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_with_one_path_per_series_and_the_labels() {
        let dir = std::env::temp_dir().join(format!("netns-bench-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("backlog.svg");
        let series = vec![
            Series {
                label: "exclusive".into(),
                points: vec![(0.0, 0), (0.5, 3), (1.0, 1)],
            },
            Series {
                label: "shared".into(),
                points: vec![(0.0, 0), (0.4, 40), (0.8, 7)],
            },
        ];
        draw_backlog(&path, "backlog", &series).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("exclusive") && svg.contains("shared"));
        assert!(svg.matches("<polyline").count() >= 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let series = [Series {
            label: "x".into(),
            points: vec![(0.0, 1)],
        }];
        let err = draw_backlog(Path::new("/nonexistent-dir/x.svg"), "t", &series).unwrap_err();
        assert!(err.contains("/nonexistent-dir/x.svg"), "{err}");
    }
}
