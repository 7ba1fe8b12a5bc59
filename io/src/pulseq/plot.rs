//! PNG plots of a sequence (`mre-sim seq info --plots DIR`): the waveforms of
//! the first imaged TRs and the k-space trajectory of every ADC sample.
//! Drawn with plotters and the vendored font of [`crate::figures`].

use std::path::{Path, PathBuf};

use mre_solver::files;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::info::SequenceInfo;
use super::model::PulseqSequence;
use super::timeline::ImportedSequence;
use super::waveform::rf_shape;
use crate::figures::{ensure_font, FigureError, FONT};

/// Number of TRs the waveform plot shows.
pub const WAVEFORM_TRS: usize = 3;

/// Names of the plots written for `stem`: `<stem>_waveforms.png`, `<stem>_kspace.png`.
pub fn plot_paths(dir: &Path, stem: &str) -> [PathBuf; 2] {
    [dir.join(format!("{stem}_waveforms.png")), dir.join(format!("{stem}_kspace.png"))]
}

/// Write the waveform and k-space plots into `dir` (created if needed); an
/// existing plot (or a dangling symbolic link) is replaced only with `force`
/// ([`FigureError::Exists`] names it otherwise). Returns the paths.
pub fn write_sequence_plots(
    dir: &Path,
    stem: &str,
    seq: &PulseqSequence,
    imp: &ImportedSequence,
    info: &SequenceInfo,
    force: bool,
) -> Result<Vec<PathBuf>, FigureError> {
    ensure_font()?;
    let paths = plot_paths(dir, stem);
    for p in &paths {
        files::check_free(p, force)?;
    }
    std::fs::create_dir_all(dir).map_err(|cause| FigureError::Io {
        path: dir.to_path_buf(),
        action: "create the directory".into(),
        cause,
    })?;
    let [wave, kspace] = paths.clone();
    files::write_new(&wave, force, |tmp| {
        draw_waveforms(tmp, seq, imp, info).map_err(|message| FigureError::Draw { path: wave.clone(), message })
    })?;
    files::write_new(&kspace, force, |tmp| draw_kspace(tmp, imp).map_err(|message| FigureError::Draw { path: kspace.clone(), message }))?;
    Ok(paths.to_vec())
}

/// Time window of the waveform plot: from the first excitation followed by an
/// ADC sample (else the start) over [`WAVEFORM_TRS`] TRs.
fn window(imp: &ImportedSequence, info: &SequenceInfo) -> (f64, f64) {
    let first_adc = imp.adc.first().map(|a| a.time_s);
    let start = match first_adc {
        Some(t) => imp.rf.iter().rev().find(|r| r.time_s <= t).map_or(0.0, |r| r.time_s),
        None => 0.0,
    };
    let tr = info.tr_s.unwrap_or(imp.duration_s);
    let lead = 0.02 * tr;
    let lo = (start - lead).max(0.0);
    (lo, (lo + WAVEFORM_TRS as f64 * tr).min(imp.duration_s))
}

fn draw_waveforms(path: &Path, seq: &PulseqSequence, imp: &ImportedSequence, info: &SequenceInfo) -> Result<(), String> {
    let (t0, t1) = window(imp, info);
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let root = BitMapBackend::new(path, (1200, 1000)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let title = format!("{}: waveforms, {:.1}–{:.1} ms", info.name.as_deref().unwrap_or("sequence"), t0 * 1e3, t1 * 1e3);
    let root = root.titled(&title, (FONT, 20)).map_err(err)?;
    let panels = root.split_evenly((5, 1));
    let ms = |t: f64| t * 1e3;
    // RF magnitude from the shapes
    let rasters = seq.rasters();
    let (starts, _) = seq.block_starts_s();
    let mut rf_pts: Vec<Vec<(f64, f64)>> = Vec::new();
    for (b, &bs) in seq.blocks.iter().zip(&starts) {
        if b.rf == 0 || bs > t1 {
            continue;
        }
        let Some(rf) = seq.rf.get(&b.rf) else { continue };
        let Ok(shape) = rf_shape(seq, rf, &rasters) else { continue };
        let s = bs + rf.delay_s();
        if s + shape.duration_s < t0 {
            continue;
        }
        let mut pts = vec![(ms(s), 0.0)];
        pts.extend(shape.t_s.iter().zip(&shape.signal_hz).map(|(t, v)| (ms(s + t), v.norm())));
        pts.push((ms(s + shape.duration_s), 0.0));
        rf_pts.push(pts);
    }
    let rf_max = rf_pts.iter().flatten().map(|p| p.1).fold(0.0, f64::max).max(1.0);
    panel(&panels[0], "|B1| (Hz)", (ms(t0), ms(t1)), (0.0, 1.1 * rf_max), &rf_pts, &RED, false)?;
    // gradients
    let to_mt = 1e3;
    let mut gmax = 0.0f64;
    let mut axes_pts: [Vec<Vec<(f64, f64)>>; 3] = Default::default();
    for (k, a) in [2usize, 1, 0].into_iter().enumerate() {
        let mut line: Vec<(f64, f64)> = vec![(ms(t0), 0.0)];
        for p in imp.timeline.gradients.iter().filter(|p| p.end_s() >= t0 && p.start_s <= t1) {
            let (ga, gb) = (p.value(0.0)[a], p.value(p.duration_s)[a]);
            if ga == 0.0 && gb == 0.0 {
                continue;
            }
            let (sa, sb) = (p.start_s.max(t0), p.end_s().min(t1));
            let va = p.value(sa - p.start_s)[a] * to_mt;
            let vb = p.value(sb - p.start_s)[a] * to_mt;
            if let Some(&(tl, vl)) = line.last() {
                if ms(sa) > tl + 1e-9 && vl != 0.0 {
                    line.push((tl, 0.0));
                }
                if ms(sa) > tl + 1e-9 {
                    line.push((ms(sa), 0.0));
                }
            }
            line.push((ms(sa), va));
            line.push((ms(sb), vb));
            gmax = gmax.max(va.abs()).max(vb.abs());
        }
        line.push((line.last().map_or(ms(t0), |p| p.0), 0.0));
        line.push((ms(t1), 0.0));
        axes_pts[k] = vec![line];
    }
    let gmax = if gmax > 0.0 { 1.1 * gmax } else { 1.0 };
    for (k, name) in ["Gx (mT/m)", "Gy (mT/m)", "Gz (mT/m)"].iter().enumerate() {
        panel(&panels[k + 1], name, (ms(t0), ms(t1)), (-gmax, gmax), &axes_pts[k], &BLUE, false)?;
    }
    // ADC samples
    let adc: Vec<Vec<(f64, f64)>> =
        vec![imp.adc.iter().filter(|a| a.time_s >= t0 && a.time_s <= t1).map(|a| (ms(a.time_s), 1.0)).collect()];
    panel(&panels[4], "ADC", (ms(t0), ms(t1)), (0.0, 2.0), &adc, &BLACK, true)?;
    root.present().map_err(err)
}

/// One panel: polylines (or points) against time in ms.
fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    label: &str,
    x: (f64, f64),
    y: (f64, f64),
    lines: &[Vec<(f64, f64)>],
    colour: &RGBColor,
    points: bool,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let mut chart = ChartBuilder::on(area)
        .margin(6)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(x.0..x.1.max(x.0 + 1e-9), y.0..y.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("t (ms)")
        .y_desc(label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(err)?;
    for l in lines {
        if points {
            chart.draw_series(l.iter().map(|p| Circle::new(*p, 2, colour.filled()))).map_err(err)?;
        } else {
            chart.draw_series(std::iter::once(PathElement::new(l.clone(), colour.stroke_width(1)))).map_err(err)?;
        }
    }
    Ok(())
}

fn draw_kspace(path: &Path, imp: &ImportedSequence) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let root = BitMapBackend::new(path, (800, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    // unique (kx, ky) positions
    let mut pts: Vec<(f64, f64)> = imp.adc.iter().map(|a| (a.k_per_m[2], a.k_per_m[1])).collect();
    let kmax = pts.iter().map(|p| p.0.abs().max(p.1.abs())).fold(0.0, f64::max).max(1e-9) * 1.05;
    let q = kmax * 1e-6;
    pts.sort_by(|a, b| ((a.0 / q).round(), (a.1 / q).round()).partial_cmp(&((b.0 / q).round(), (b.1 / q).round())).unwrap());
    pts.dedup_by(|a, b| (a.0 - b.0).abs() < q && (a.1 - b.1).abs() < q);
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("k-space: {} ADC samples ({} distinct kx–ky positions)", imp.adc.len(), pts.len()), (FONT, 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-kmax..kmax, -kmax..kmax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("kx (1/m)")
        .y_desc("ky (1/m)")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(err)?;
    let radius = if pts.len() < 5000 { 2 } else { 1 };
    chart.draw_series(pts.iter().map(|p| Circle::new(*p, radius, BLUE.filled()))).map_err(err)?;
    root.present().map_err(err)
}
