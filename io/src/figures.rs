//! PNG figures of 2-D maps (magnitude, phase, wave fields, moduli) with a
//! title and a colour bar, drawn with `plotters` and a vendored DejaVu Sans
//! font (`assets/DejaVuSans.ttf`, licence in `assets/DejaVuSans-LICENSE.txt`),
//! so no system font library or installed font is needed.
//!
//! Maps are drawn with row 0 at the top (image convention): rows are `y`,
//! columns are `x`, one square block of at least 4 × 4 pixels per voxel.

use std::f64::consts::PI;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mre_solver::files::{self, FileError};
use ndarray::{s, ArrayView2};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use crate::data::MreData;

/// The vendored font, registered as the `sans-serif` family.
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// Font family name used by every text element.
pub(crate) const FONT: &str = "sans-serif";

/// Error writing a figure.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// A file-system operation failed.
    #[error("{}: cannot {action}: {cause}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What was attempted.
        action: String,
        /// The OS error.
        cause: std::io::Error,
    },
    /// Drawing or PNG encoding failed.
    #[error("{}: cannot draw the figure: {message}", path.display())]
    Draw {
        /// The figure file.
        path: PathBuf,
        /// The plotters error.
        message: String,
    },
    /// The figure exists and replacing it was not asked for.
    #[error("{}: already exists (pass --force to overwrite it)", path.display())]
    Exists {
        /// The existing figure.
        path: PathBuf,
    },
    /// The vendored font could not be loaded (should not happen).
    #[error("cannot load the embedded DejaVu Sans font")]
    Font,
    /// The map or the requested range cannot be drawn.
    #[error("{}: {problem}", path.display())]
    Invalid {
        /// The figure file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl From<FileError> for FigureError {
    /// An existing figure that may not be replaced becomes [`FigureError::Exists`].
    fn from(e: FileError) -> Self {
        match e {
            FileError::Io { path, action, source } => FigureError::Io { path, action, cause: source },
            FileError::Exists { path } => FigureError::Exists { path },
            other => FigureError::Invalid { path: other.path().to_path_buf(), problem: other.to_string() },
        }
    }
}

/// Colour map of a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colormap {
    /// Black to white, for magnitude images.
    Gray,
    /// Cyclic, twilight-like (light at both ends, dark in the middle), for
    /// wrapped phase: the colours at the two ends of the range are equal.
    Cyclic,
    /// Blue–white–red, for signed fields (wave displacement); use a
    /// symmetric range so that zero is white.
    Diverging,
    /// Viridis (dark blue → green → yellow), perceptually uniform, for moduli.
    Viridis,
}

/// Anchor colours, evenly spaced over [0, 1].
const CYCLIC: [[u8; 3]; 9] = [
    [226, 217, 226],
    [155, 176, 200],
    [96, 120, 188],
    [84, 62, 158],
    [47, 20, 55],
    [123, 36, 76],
    [178, 84, 75],
    [207, 158, 138],
    [226, 217, 226],
];
const DIVERGING: [[u8; 3]; 5] = [[33, 102, 172], [103, 169, 207], [247, 247, 247], [239, 138, 98], [178, 24, 43]];
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
];
/// Colour of NaN voxels.
const NAN_RGB: [u8; 3] = [150, 150, 150];

/// Linear interpolation between evenly spaced anchors; `t` in [0, 1].
fn interpolate(anchors: &[[u8; 3]], t: f64) -> [u8; 3] {
    let x = t * (anchors.len() - 1) as f64;
    let i = (x.floor() as usize).min(anchors.len() - 2);
    let f = x - i as f64;
    let (a, b) = (anchors[i], anchors[i + 1]);
    std::array::from_fn(|k| (f64::from(a[k]) * (1.0 - f) + f64::from(b[k]) * f).round() as u8)
}

impl Colormap {
    /// RGB colour at position `t` of the map (clamped to [0, 1]; NaN gives
    /// the neutral grey used for missing voxels).
    #[must_use]
    pub fn rgb(self, t: f64) -> [u8; 3] {
        if t.is_nan() {
            return NAN_RGB;
        }
        let t = t.clamp(0.0, 1.0);
        match self {
            Colormap::Gray => {
                let g = (t * 255.0).round() as u8;
                [g, g, g]
            }
            Colormap::Cyclic => interpolate(&CYCLIC, t),
            Colormap::Diverging => interpolate(&DIVERGING, t),
            Colormap::Viridis => interpolate(&VIRIDIS, t),
        }
    }

    /// Range used when none is given: `[-π, π]` for [`Cyclic`](Self::Cyclic),
    /// symmetric `±max|v|` for [`Diverging`](Self::Diverging), the finite
    /// minimum and maximum otherwise. A degenerate range is widened.
    fn auto_range(self, map: &ArrayView2<f64>) -> (f64, f64) {
        let finite = map.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = match self {
            Colormap::Cyclic => return (-PI, PI),
            Colormap::Diverging => {
                let m = finite.fold(0.0_f64, |m, v| m.max(v.abs()));
                (-m, m)
            }
            Colormap::Gray | Colormap::Viridis => finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v))),
        };
        if !(lo.is_finite() && hi.is_finite()) {
            (0.0, 1.0) // no finite value at all
        } else if hi > lo {
            (lo, hi)
        } else {
            let d = if lo == 0.0 { 1.0 } else { 0.05 * lo.abs() };
            (lo - d, hi + d)
        }
    }
}

/// Registers the vendored font once per process.
pub(crate) fn ensure_font() -> Result<(), FigureError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok {
        Ok(())
    } else {
        Err(FigureError::Font)
    }
}

// --------------------------------------------------------------- layout --

/// Nominal figure size, px; larger maps enlarge it.
const FIG_W: u32 = 600;
const FIG_H: u32 = 500;
const MARGIN: u32 = 12;
const TITLE_H: u32 = 34;
/// Space above the map for the colour bar's unit label.
const UNIT_H: u32 = 24;
/// Space left of the map for y tick labels and the axis name.
const AXIS_LEFT: u32 = 50;
/// Space below the map for x tick labels and the axis name.
const AXIS_BOTTOM: u32 = 40;
const CBAR_GAP: u32 = 18;
const CBAR_W: u32 = 22;
/// Space right of the colour bar for its tick labels.
const CBAR_LABELS: u32 = 72;
/// Smallest block per voxel, px.
const MIN_VOXEL_PX: u32 = 4;
const FIXED_W: u32 = 2 * MARGIN + AXIS_LEFT + CBAR_GAP + CBAR_W + CBAR_LABELS;
const FIXED_H: u32 = 2 * MARGIN + TITLE_H + UNIT_H + AXIS_BOTTOM;
/// Smallest colour bar height, px.
const MIN_CBAR_H: u32 = 160;

/// Pixel geometry of one figure.
#[derive(Debug, Clone, Copy)]
struct Layout {
    width: u32,
    height: u32,
    /// Pixels per voxel side.
    px: u32,
    /// Top-left corner of the map.
    map_x: i32,
    map_y: i32,
    map_w: i32,
    map_h: i32,
    /// Colour bar rectangle.
    bar_x: i32,
    bar_y: i32,
    bar_h: i32,
}

impl Layout {
    fn new(ny: usize, nx: usize) -> Self {
        let avail = |total: u32, fixed: u32, n: usize| (total - fixed) / n.max(1) as u32;
        let px = avail(FIG_W, FIXED_W, nx).min(avail(FIG_H, FIXED_H, ny)).max(MIN_VOXEL_PX);
        let (map_w, map_h) = (px * nx as u32, px * ny as u32);
        let width = FIG_W.max(map_w + FIXED_W);
        let height = FIG_H.max(map_h + FIXED_H).max(MIN_CBAR_H + FIXED_H);
        // Centre the map (and the colour bar beside it) in the free space.
        let free_w = width - FIXED_W - map_w;
        let free_h = height - FIXED_H - map_h;
        let map_x = (MARGIN + AXIS_LEFT + free_w / 2) as i32;
        let map_y = (MARGIN + TITLE_H + UNIT_H + free_h / 2) as i32;
        let bar_h = map_h.max(MIN_CBAR_H) as i32;
        let top = (MARGIN + TITLE_H + UNIT_H) as i32;
        let bar_y = (map_y + map_h as i32 / 2 - bar_h / 2).max(top);
        Self {
            width,
            height,
            px,
            map_x,
            map_y,
            map_w: map_w as i32,
            map_h: map_h as i32,
            bar_x: map_x + map_w as i32 + CBAR_GAP as i32,
            bar_y,
            bar_h,
        }
    }
}

/// About `target` "nice" (1, 2, 5 × 10^k) tick values within [lo, hi],
/// and the step.
fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return (vec![lo], 1.0);
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let ticks = (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            if v.abs() < step * 1e-9 {
                0.0
            } else {
                v
            }
        })
        .collect();
    (ticks, step)
}

/// Formats a tick value with as many decimals as the step needs; very small
/// or large steps use scientific notation. Negative values get a typographic
/// minus sign.
fn tick_label(v: f64, step: f64) -> String {
    let s = if v == 0.0 {
        "0".to_string()
    } else if step < 1e-3 || v.abs() >= 1e6 {
        format!("{v:.1e}")
    } else {
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        format!("{v:.decimals$}")
    };
    s.replace('-', "\u{2212}")
}

/// Colour bar ticks and labels: multiples of π/2 for a [−π, π] range,
/// nice decimal values otherwise.
fn colour_bar_ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    if (lo + PI).abs() < 1e-12 && (hi - PI).abs() < 1e-12 {
        return ["−π", "−π/2", "0", "π/2", "π"]
            .iter()
            .enumerate()
            .map(|(k, label)| ((k as f64 - 2.0) * PI / 2.0, (*label).to_string()))
            .collect();
    }
    let (ticks, step) = nice_ticks(lo, hi, 6);
    ticks.into_iter().map(|v| (v, tick_label(v, step))).collect()
}

// -------------------------------------------------------------- drawing --

/// Writes a PNG image of `map` (rows = y, columns = x; NaN drawn in neutral
/// grey) with `title` and a colour bar labelled with `unit_label`.
///
/// `range` is the data value at the bottom and top of the colour bar;
/// `None` chooses it from the data (see [`Colormap`]). Values outside the
/// range get the end colours. The figure is about 600 × 500 px; large maps
/// enlarge it so that each voxel is at least 4 × 4 px. The PNG is written to
/// `path` directly (an existing file there is replaced): outputs call this on
/// the temporary path of [`mre_solver::files::write_new`], as
/// [`write_mre_figures`] does, so that nothing is clobbered or left partial.
///
/// # Errors
///
/// [`FigureError`] if the map is empty, the range is not finite and
/// increasing, or drawing or writing the PNG fails.
pub fn write_map_png(
    path: &Path,
    title: &str,
    map: ArrayView2<f64>,
    unit_label: &str,
    colormap: Colormap,
    range: Option<(f64, f64)>,
) -> Result<(), FigureError> {
    let invalid = |problem: String| FigureError::Invalid { path: path.to_path_buf(), problem };
    let (ny, nx) = map.dim();
    if ny == 0 || nx == 0 {
        return Err(invalid(format!("cannot draw an empty map of shape [{ny}, {nx}]")));
    }
    let (lo, hi) = range.unwrap_or_else(|| colormap.auto_range(&map));
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Err(invalid(format!("colour range ({lo}, {hi}) must be finite and increasing")));
    }
    ensure_font()?;
    let layout = Layout::new(ny, nx);
    draw(path, title, &map, unit_label, colormap, (lo, hi), &layout)
        .map_err(|message| FigureError::Draw { path: path.to_path_buf(), message })
}

fn draw(
    path: &Path,
    title: &str,
    map: &ArrayView2<f64>,
    unit_label: &str,
    colormap: Colormap,
    (lo, hi): (f64, f64),
    l: &Layout,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let root = BitMapBackend::new(path, (l.width, l.height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;

    let text = |size: u32, pos: Pos| TextStyle::from((FONT, size).into_font()).color(&BLACK).pos(pos);
    let rgb = |c: [u8; 3]| RGBColor(c[0], c[1], c[2]);

    // Title, centred at the top.
    root.draw_text(title, &text(18, Pos::new(HPos::Center, VPos::Top)), (l.width as i32 / 2, MARGIN as i32)).map_err(err)?;

    // The map: one px × px block per voxel (the fill excludes the far edge).
    let px = l.px as i32;
    let t_of = |v: f64| (v - lo) / (hi - lo);
    for ((y, x), &v) in map.indexed_iter() {
        let (x0, y0) = (l.map_x + x as i32 * px, l.map_y + y as i32 * px);
        root.draw(&Rectangle::new([(x0, y0), (x0 + px, y0 + px)], rgb(colormap.rgb(t_of(v))).filled())).map_err(err)?;
    }
    let frame = |x0: i32, y0: i32, w: i32, h: i32| Rectangle::new([(x0 - 1, y0 - 1), (x0 + w, y0 + h)], BLACK.stroke_width(1));
    root.draw(&frame(l.map_x, l.map_y, l.map_w, l.map_h)).map_err(err)?;

    // Axis ticks at voxel centres, labelled with voxel indices.
    let (ny, nx) = map.dim();
    let tick_style = text(13, Pos::new(HPos::Center, VPos::Top));
    let (xt, _) = nice_ticks(0.0, (nx - 1) as f64, 6);
    for i in xt.iter().map(|&v| v.round() as i32) {
        let x = l.map_x + i * px + px / 2;
        let y = l.map_y + l.map_h;
        root.draw(&PathElement::new(vec![(x, y), (x, y + 4)], BLACK)).map_err(err)?;
        root.draw_text(&i.to_string(), &tick_style, (x, y + 6)).map_err(err)?;
    }
    root.draw_text("x", &text(14, Pos::new(HPos::Center, VPos::Top)), (l.map_x + l.map_w / 2, l.map_y + l.map_h + 22)).map_err(err)?;
    let ytick_style = text(13, Pos::new(HPos::Right, VPos::Center));
    let (yt, _) = nice_ticks(0.0, (ny - 1) as f64, 6);
    for i in yt.iter().map(|&v| v.round() as i32) {
        let x = l.map_x - 1;
        let y = l.map_y + i * px + px / 2;
        root.draw(&PathElement::new(vec![(x - 4, y), (x, y)], BLACK)).map_err(err)?;
        root.draw_text(&i.to_string(), &ytick_style, (x - 6, y)).map_err(err)?;
    }
    root.draw_text("y", &text(14, Pos::new(HPos::Center, VPos::Center)), (l.map_x - AXIS_LEFT as i32 + 6, l.map_y + l.map_h / 2))
        .map_err(err)?;

    // Colour bar: one row per pixel, top = hi.
    let span = f64::from((l.bar_h - 1).max(1));
    for r in 0..l.bar_h {
        let t = 1.0 - f64::from(r) / span;
        let y = l.bar_y + r;
        root.draw(&Rectangle::new([(l.bar_x, y), (l.bar_x + CBAR_W as i32, y + 1)], rgb(colormap.rgb(t)).filled())).map_err(err)?;
    }
    root.draw(&frame(l.bar_x, l.bar_y, CBAR_W as i32, l.bar_h)).map_err(err)?;
    let label_style = text(13, Pos::new(HPos::Left, VPos::Center));
    let right = l.bar_x + CBAR_W as i32;
    for (v, label) in colour_bar_ticks(lo, hi) {
        let y = l.bar_y + ((1.0 - t_of(v)) * span).round() as i32;
        root.draw(&PathElement::new(vec![(right, y), (right + 4, y)], BLACK)).map_err(err)?;
        root.draw_text(&label, &label_style, (right + 7, y)).map_err(err)?;
    }
    root.draw_text(unit_label, &text(14, Pos::new(HPos::Center, VPos::Bottom)), (l.bar_x + CBAR_W as i32 / 2, l.bar_y - 6)).map_err(err)?;

    root.present().map_err(err)
}

// ------------------------------------------------------- MRE data figures --

/// Which of the standard figures ([`write_mre_figures`]) a data set gets: known before the
/// data exist (from a run's frequencies and encoded components), so that every figure path
/// can be checked before a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct MreFigures {
    /// Vibration frequencies, Hz (one phase figure each, one wave figure per component each).
    pub frequencies_hz: Vec<f64>,
    /// Letters of the encoded components (`"xyz"`), one wave figure per frequency each.
    pub components: Vec<String>,
    /// `/magnitude` is present.
    pub magnitude: bool,
    /// `/phase` is present.
    pub phase: bool,
    /// `/wave` is present.
    pub wave: bool,
    /// The ground-truth storage modulus is present.
    pub ground_truth: bool,
}

impl MreFigures {
    /// The figures of `data`.
    pub fn of(data: &MreData) -> Self {
        let n_phase = data.phase.as_ref().map_or(0, |p| p.dim().0);
        let n_wave = data.wave.as_ref().map_or(0, |w| w.dim().0);
        let n_comp = data.wave.as_ref().map_or(0, |w| w.dim().1);
        Self {
            frequencies_hz: data.frequencies_hz.iter().copied().take(n_phase.max(n_wave)).collect(),
            components: (0..n_comp).map(|c| component_name(&data.components, c)).collect(),
            magnitude: data.magnitude.is_some(),
            phase: data.phase.is_some(),
            wave: data.wave.is_some(),
            ground_truth: data.ground_truth.is_some(),
        }
    }

    /// The paths [`write_mre_figures`] writes into `dir` for `stem`, in the order written.
    pub fn paths(&self, dir: &Path, stem: &str) -> Vec<PathBuf> {
        let mut names = Vec::new();
        if self.magnitude {
            names.push(format!("{stem}_magnitude.png"));
        }
        if self.phase {
            names.extend(self.frequencies_hz.iter().map(|f| phase_name(stem, *f)));
        }
        if self.wave {
            for f in &self.frequencies_hz {
                names.extend(self.components.iter().map(|c| wave_name(stem, *f, c)));
            }
        }
        if self.ground_truth {
            names.push(format!("{stem}_storage_modulus.png"));
        }
        names.into_iter().map(|n| dir.join(n)).collect()
    }
}

fn phase_name(stem: &str, freq: f64) -> String {
    format!("{stem}_phase_f{freq}Hz.png")
}

fn wave_name(stem: &str, freq: f64, comp: &str) -> String {
    format!("{stem}_wave_f{freq}Hz_{comp}.png")
}

/// Writes the standard figures of `data` into `dir` (created if needed) and
/// returns their paths ([`MreFigures::paths`]):
///
/// * `<stem>_magnitude.png`: `/magnitude` (grey);
/// * `<stem>_phase_f<freq>Hz.png`: `/phase`, first component and first
///   offset, per frequency (cyclic, −π … π);
/// * `<stem>_wave_f<freq>Hz_<comp>.png`: real part of `/wave` in µm, per
///   frequency and component (diverging, symmetric range);
/// * `<stem>_storage_modulus.png`: ground-truth G′ in kPa (viridis), if
///   present.
///
/// 3-D data show the central slice `z = nz / 2`. Each file is written under
/// a temporary name and renamed into place ([`mre_solver::files::write_new`]):
/// an existing figure is replaced only with `force`.
///
/// # Errors
///
/// [`FigureError`] if the directory cannot be created, a figure exists
/// ([`FigureError::Exists`], without `force`) or cannot be drawn or written;
/// figures already written are kept.
pub fn write_mre_figures(dir: &Path, stem: &str, data: &MreData, force: bool) -> Result<Vec<PathBuf>, FigureError> {
    fs::create_dir_all(dir).map_err(|cause| FigureError::Io {
        path: dir.to_path_buf(),
        action: "create the figure directory".into(),
        cause,
    })?;
    let mut written = Vec::new();
    let mut emit = |name: String,
                    title: String,
                    map: ArrayView2<f64>,
                    unit: &str,
                    cmap: Colormap,
                    range: Option<(f64, f64)>|
     -> Result<(), FigureError> {
        let path = dir.join(name);
        files::write_new(&path, force, |tmp| write_map_png(tmp, &title, map, unit, cmap, range))?;
        written.push(path);
        Ok(())
    };

    // phase and wave are meaningless outside the mask (no signal, absorbing layers): grey there
    let masked = |map: ArrayView2<f64>, z: usize| -> ndarray::Array2<f64> {
        let mut out = map.to_owned();
        if let Some(mask) = data.mask.as_ref().filter(|m| m.dim().0 > z && m.dim().1 == map.dim().0 && m.dim().2 == map.dim().1) {
            ndarray::Zip::from(&mut out).and(mask.slice(s![z, .., ..])).for_each(|v, &m| {
                if m == 0 {
                    *v = f64::NAN;
                }
            });
        }
        out
    };
    if let Some(m) = &data.magnitude {
        let z = m.dim().0 / 2;
        emit(format!("{stem}_magnitude.png"), format!("Magnitude (z = {z})"), m.slice(s![z, .., ..]), "a.u.", Colormap::Gray, None)?;
    }
    if let Some(p) = &data.phase {
        let z = p.dim().3 / 2;
        let comp = component_name(&data.components, 0);
        for (f, freq) in data.frequencies_hz.iter().enumerate().take(p.dim().0) {
            emit(
                phase_name(stem, *freq),
                format!("Phase, {freq} Hz, {comp} encoding, offset 0 (z = {z})"),
                masked(p.slice(s![f, 0, 0, z, .., ..]), z).view(),
                "rad",
                Colormap::Cyclic,
                Some((-PI, PI)),
            )?;
        }
    }
    if let Some(w) = &data.wave {
        let z = w.dim().2 / 2;
        for (f, freq) in data.frequencies_hz.iter().enumerate().take(w.dim().0) {
            for c in 0..w.dim().1 {
                let comp = component_name(&data.components, c);
                let re = masked(w.slice(s![f, c, z, .., ..]).mapv(|u| u.re * 1e6).view(), z);
                emit(
                    wave_name(stem, *freq, &comp),
                    format!("Wave Re(u_{comp}), {freq} Hz (z = {z})"),
                    re.view(),
                    "µm",
                    Colormap::Diverging,
                    None,
                )?;
            }
        }
    }
    if let Some(gt) = &data.ground_truth {
        let g = &gt.storage_modulus_pa;
        let z = g.dim().0 / 2;
        let kpa = g.slice(s![z, .., ..]).mapv(|v| v * 1e-3);
        emit(
            format!("{stem}_storage_modulus.png"),
            format!("Storage modulus G′, ground truth (z = {z})"),
            kpa.view(),
            "kPa",
            Colormap::Viridis,
            None,
        )?;
    }
    Ok(written)
}

/// Letter of component `c` (`"x"`, `"y"`, `"z"`), or its index if
/// `components` is shorter.
fn component_name(components: &str, c: usize) -> String {
    components.chars().nth(c).map_or_else(|| c.to_string(), String::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn test_map(ny: usize, nx: usize) -> Array2<f64> {
        Array2::from_shape_fn((ny, nx), |(y, x)| ((x as f64) * 0.3).sin() * ((y as f64) * 0.2).cos())
    }

    #[test]
    fn every_colormap_writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let mut map = test_map(40, 50);
        map[[3, 4]] = f64::NAN;
        for (cmap, name) in
            [(Colormap::Gray, "gray"), (Colormap::Cyclic, "cyclic"), (Colormap::Diverging, "diverging"), (Colormap::Viridis, "viridis")]
        {
            let path = dir.path().join(format!("{name}.png"));
            write_map_png(&path, name, map.view(), "unit", cmap, None).unwrap();
            let bytes = fs::read(&path).unwrap();
            assert!(bytes.len() > 1024, "{name}: {} bytes", bytes.len());
            assert_eq!(&bytes[1..4], b"PNG", "{name}");
        }
    }

    #[test]
    fn large_maps_keep_four_pixels_per_voxel() {
        let l = Layout::new(300, 200);
        assert_eq!(l.px, MIN_VOXEL_PX);
        assert!(l.width >= 200 * 4 + FIXED_W && l.height >= 300 * 4 + FIXED_H);
        let l = Layout::new(64, 64);
        assert!(l.px >= 5);
        assert_eq!((l.width, l.height), (FIG_W, FIG_H));
        assert!(l.map_x + l.map_w < l.bar_x);
    }

    #[test]
    fn colormaps_are_sane() {
        assert_eq!(Colormap::Gray.rgb(0.0), [0, 0, 0]);
        assert_eq!(Colormap::Gray.rgb(2.0), [255, 255, 255]);
        assert_eq!(Colormap::Cyclic.rgb(0.0), Colormap::Cyclic.rgb(1.0));
        assert_eq!(Colormap::Diverging.rgb(0.5), [247, 247, 247]);
        assert_eq!(Colormap::Viridis.rgb(1.0), [253, 231, 37]);
        assert_eq!(Colormap::Viridis.rgb(f64::NAN), NAN_RGB);
    }

    #[test]
    fn ticks_are_nice() {
        let (t, step) = nice_ticks(-3.2, 3.2, 6);
        assert_eq!(step, 2.0);
        assert_eq!(t, [-2.0, 0.0, 2.0]);
        let (t, _) = nice_ticks(0.0, 10.0, 5);
        assert_eq!(t, [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let (t, step) = nice_ticks(-0.3, 0.3, 6);
        assert_eq!(step, 0.1);
        assert_eq!(t.len(), 7);
        assert_eq!(t[3], 0.0);
        assert_eq!(tick_label(0.25, 0.05), "0.25");
        assert_eq!(tick_label(4.0, 2.0), "4");
        assert_eq!(tick_label(2e-5, 1e-5), "2.0e\u{2212}5");
        assert_eq!(tick_label(-1.5, 0.5), "\u{2212}1.5");
        assert_eq!(tick_label(0.0, 1e-5), "0");
    }

    #[test]
    fn mre_figures_have_the_documented_names() {
        use crate::data::GroundTruth;
        use ndarray::{Array3, Array5, Array6};
        use num_complex::Complex64;

        let (nz, ny, nx) = (3, 10, 12);
        let data = MreData {
            frequencies_hz: vec![50.0, 62.5],
            components: "xz".into(),
            magnitude: Some(Array3::from_elem((nz, ny, nx), 1.0)),
            phase: Some(Array6::from_shape_fn((2, 2, 1, nz, ny, nx), |(_, _, _, _, y, x)| (x as f64 - y as f64) * 0.3)),
            wave: Some(Array5::from_shape_fn((2, 2, nz, ny, nx), |(_, _, _, y, x)| {
                Complex64::new((x as f64).sin() * 1e-6, (y as f64).cos() * 1e-6)
            })),
            ground_truth: Some(GroundTruth {
                storage_modulus_pa: Array3::from_elem((nz, ny, nx), 3000.0),
                loss_modulus_pa: Array3::from_elem((nz, ny, nx), 900.0),
            }),
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("figs");
        let paths = write_mre_figures(&out, "run", &data, false).unwrap();
        // The paths are known before the data are drawn.
        assert_eq!(MreFigures::of(&data).paths(&out, "run"), paths);
        let mut names: Vec<String> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "run_magnitude.png",
                "run_phase_f50Hz.png",
                "run_phase_f62.5Hz.png",
                "run_storage_modulus.png",
                "run_wave_f50Hz_x.png",
                "run_wave_f50Hz_z.png",
                "run_wave_f62.5Hz_x.png",
                "run_wave_f62.5Hz_z.png",
            ]
        );
        // Nothing else (no temporary files) in the directory.
        assert_eq!(fs::read_dir(&out).unwrap().count(), names.len());
        for p in &paths {
            assert!(fs::metadata(p).unwrap().len() > 1024, "{}", p.display());
        }
        // An existing figure is not replaced without force, and is with it.
        fs::write(&paths[1], b"mine").unwrap();
        let e = write_mre_figures(&out, "run", &data, false).unwrap_err();
        assert!(matches!(&e, FigureError::Exists { .. }), "{e}");
        assert_eq!(fs::read(&paths[1]).unwrap(), b"mine");
        write_mre_figures(&out, "run", &data, true).unwrap();
        assert!(fs::metadata(&paths[1]).unwrap().len() > 1024);
    }

    #[test]
    fn bad_input_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.png");
        let m = test_map(4, 4);
        let e = write_map_png(&p, "t", m.view(), "u", Colormap::Gray, Some((1.0, 1.0)));
        assert!(matches!(e, Err(FigureError::Invalid { .. })));
        let empty = Array2::<f64>::zeros((0, 3));
        assert!(write_map_png(&p, "t", empty.view(), "u", Colormap::Gray, None).is_err());
        assert!(!p.exists());
    }
}
