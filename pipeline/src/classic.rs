//! Direct (classic) inversions of a wave field: AHI per frequency averaged over the
//! frequencies, or MDEV over all of them (`mre_solver::classic`), after the curl of vector
//! data and a spatial filter (by default chosen from the data); with region statistics per
//! label.

use std::time::Instant;

use mre_io::hdf5::{MreResult, RegionSummary, ResultProvenance};
use mre_solver::classic::{self, Elastogram};
use mre_solver::units::Axis;
use ndarray::{Array3, Array5, Zip};
use num_complex::Complex64;
use tracing::{info, warn};

use crate::choice::Choice;
use crate::error::{ErrorKind, PipelineError, Result};
use crate::input::WaveInput;
use crate::invert::Method;

pub use mre_inverse::options::{Curl, Filter};

/// AHI or MDEV of `input` after the `curl` and the `filter`, as an mre-result (region rows per
/// non-zero label of `/labels`, or of the mask). The provenance records the curl
/// (`curl` = `"on"`/`"off"`, `curl_components`) and the filter (`filter` and, for
/// [`Filter::Auto`], per frequency the chosen σ, the estimated noise, wavelength and predicted
/// noise bias); both are logged at info.
///
/// # Errors
/// [`ErrorKind::InvalidInput`]: `Curl::On` for data without a curl (one component, or
/// components that do not enter it), no voxel left for the curl's stencil, or what the
/// inversions refuse.
pub fn invert_classic(input: &WaveInput, method: Method, filter: Filter, curl: Curl) -> Result<MreResult> {
    let start = Instant::now();
    let (wave, mask, curl_note) = apply_curl(input, curl)?;
    let (wave, filter_notes) = filter_wave(&wave, &mask, input.data.voxel_size_m, &input.data.frequencies_hz, filter)?;
    let e = reconstruct(method, &wave, &mask, &input.data)?;
    let labels = input.data.labels.clone().unwrap_or_else(|| input.mask.mapv(u16::from));
    let regions = region_summaries(&e, &labels);
    let mut extra = vec![("filter".into(), filter.name().into()), ("data_level".into(), input.level.into())];
    extra.extend(curl_note);
    extra.extend(filter_notes);
    Ok(MreResult {
        storage_modulus_pa: e.storage_modulus_pa,
        loss_modulus_pa: e.loss_modulus_pa,
        abs_modulus_pa: Some(e.abs_modulus_pa),
        phase_angle_rad: Some(e.phase_angle_rad),
        regions,
        provenance: ResultProvenance {
            tool: "mre-sim".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            method: method.name().into(),
            iterations: 0,
            wall_time_s: start.elapsed().as_secs_f64(),
            source_data: input.source.clone(),
            created: String::new(),
            extra,
        },
        ..MreResult::default()
    })
}

/// Provenance entries (`/provenance` attributes) of a step.
type Notes = Vec<(String, String)>;

fn invalid(e: impl std::error::Error + 'static) -> PipelineError {
    PipelineError::from_error(ErrorKind::InvalidInput, &e)
}

/// The displacement components of `input` as axes (`/acquisition components`).
fn component_axes(input: &WaveInput) -> Vec<Axis> {
    input.data.components.chars().filter_map(|c| Axis::parse(&c.to_string())).collect()
}

/// Whether the curl of `input` is taken under `curl`, as a check of its components (the
/// message names the option, the components and their count).
///
/// # Errors
/// [`ErrorKind::InvalidInput`] for `Curl::On` on data without a curl.
pub fn curl_applies(input: &WaveInput, curl: Curl) -> Result<bool> {
    let axes = component_axes(input);
    let sh = input.mask.shape();
    let available = classic::curl_axes(&axes, [sh[0], sh[1], sh[2]]);
    match (curl, available) {
        (Curl::Off, _) => Ok(false),
        (_, Ok(_)) => Ok(true),
        (Curl::On, Err(why)) => Err(PipelineError::invalid(format!(
            "{}: --curl on (config: [invert] curl = \"on\") cannot be used with {} displacement component(s) \"{}\": {why}",
            input.source,
            axes.len(),
            input.data.components
        ))),
        (Curl::Auto, Err(_)) => Ok(false),
    }
}

/// The wave and mask to invert: the curl of every frequency's displacement (and the mask where
/// its stencil fits) when `curl` applies, otherwise the wave as it is; with the provenance
/// entries `curl` and `curl_components`.
fn apply_curl(input: &WaveInput, curl: Curl) -> Result<(Array5<Complex64>, Array3<bool>, Notes)> {
    if !curl_applies(input, curl)? {
        if curl == Curl::Auto {
            info!(data = %input.source, components = %input.data.components, "curl off (auto): the data's components have no curl");
        }
        return Ok((input.wave.clone(), input.mask.clone(), vec![("curl".into(), "off".into())]));
    }
    let axes = component_axes(input);
    let h = input.data.voxel_size_m;
    let mut parts = Vec::new();
    for (f, w) in input.wave.outer_iter().enumerate() {
        let c = classic::curl(w, &axes, &input.mask, h).map_err(|e| {
            PipelineError::invalid(format!(
                "{}: the curl of the wave at {} Hz: {}",
                input.source,
                input.data.frequencies_hz.get(f).copied().unwrap_or(f64::NAN),
                crate::error::chain(&e)
            ))
        })?;
        parts.push(c);
    }
    let names: String = parts[0].axes.iter().map(|a| a.name()).collect();
    let mask = parts[0].mask.clone();
    let views: Vec<_> = parts.iter().map(|c| c.field.view()).collect();
    let wave = ndarray::stack(ndarray::Axis(0), &views).expect("one grid");
    info!(data = %input.source, components = %input.data.components, curl_components = %names, voxels = mask.iter().filter(|&&m| m).count(), "inverting the curl of the displacement");
    Ok((wave, mask, vec![("curl".into(), "on".into()), ("curl_components".into(), names)]))
}

/// Applies `filter` to every frequency and component of `wave` (`mre_solver::classic`'s
/// mask-aware filters: for [`Filter::Auto`] the one [`classic::choose_filter`] picks per
/// frequency; the Gaussian inside the mask, σ = 1 voxel; the Butterworth low-pass with its
/// cut-off at 1/(6 voxels) of the smallest in-plane voxel size), with the provenance entries
/// of the automatic choice.
fn filter_wave(
    wave: &Array5<Complex64>,
    mask: &Array3<bool>,
    voxel_size_m: [f64; 3],
    frequencies_hz: &[f64],
    filter: Filter,
) -> Result<(Array5<Complex64>, Notes)> {
    let f = match filter {
        Filter::None => return Ok((wave.clone(), Vec::new())),
        Filter::Auto => return auto_filter(wave, mask, voxel_size_m, frequencies_hz),
        Filter::Gaussian => classic::Filter::GaussianVoxels { sigma_voxels: 1.0 },
        Filter::Butterworth => classic::Filter::Butterworth { cutoff_per_m: 1.0 / (6.0 * wave_voxel_min(mask, voxel_size_m)), order: 4 },
    };
    Ok((classic::filter_waves_masked(wave, mask, voxel_size_m, &f).map_err(invalid)?, Vec::new()))
}

/// [`Filter::Auto`]: per frequency [`classic::choose_filter`] on all its components, then that
/// filter; logged at info (a warning where the noise target could not be met).
fn auto_filter(
    wave: &Array5<Complex64>,
    mask: &Array3<bool>,
    voxel_size_m: [f64; 3],
    frequencies_hz: &[f64],
) -> Result<(Array5<Complex64>, Notes)> {
    let mut out = wave.clone();
    let mut choices = Vec::new();
    for (f, mut w) in out.outer_iter_mut().enumerate() {
        let hz = frequencies_hz.get(f).copied().unwrap_or(f64::NAN);
        let c = classic::choose_filter(w.view(), mask, voxel_size_m).map_err(invalid)?;
        let sigma_mm = c.sigma_m * 1e3;
        info!(
            frequency_hz = hz,
            sigma_mm,
            noise_std = c.noise_std,
            snr = c.signal_rms / c.noise_std,
            wavelength_mm = c.wavelength_m() * 1e3,
            predicted_bias = c.predicted_bias,
            "automatic filter: {}",
            describe(&c.filter)
        );
        if c.limited {
            warn!(
                frequency_hz = hz,
                snr = c.signal_rms / c.noise_std,
                predicted_bias = c.predicted_bias,
                "the noise is too high for an unbiased direct inversion at this frequency even with the widest filter (σ = λ/2π): expect G' too low"
            );
        }
        for mut u in w.outer_iter_mut() {
            let filtered = classic::filter_wave_masked(&u.to_owned(), mask, voxel_size_m, &c.filter).map_err(invalid)?;
            u.assign(&filtered);
        }
        choices.push((hz, c));
    }
    let list =
        |g: &dyn Fn(&classic::FilterChoice) -> f64| choices.iter().map(|(_, c)| format!("{:.6e}", g(c))).collect::<Vec<_>>().join(",");
    let notes = vec![
        ("filter_chosen".into(), choices.iter().map(|(hz, c)| format!("{hz} Hz: {}", describe(&c.filter))).collect::<Vec<_>>().join("; ")),
        ("filter_sigma_m".into(), list(&|c| c.sigma_m)),
        ("filter_noise_std".into(), list(&|c| c.noise_std)),
        ("filter_wavelength_m".into(), list(&|c| c.wavelength_m())),
        ("filter_predicted_bias".into(), list(&|c| c.predicted_bias)),
    ];
    Ok((out, notes))
}

/// One line on a filter of `mre_solver::classic`.
fn describe(f: &classic::Filter) -> String {
    match *f {
        classic::Filter::None => "none".into(),
        classic::Filter::LocalLinear { sigma_m } => format!("gaussian local-linear, sigma {:.3} mm", sigma_m * 1e3),
        classic::Filter::Gaussian { sigma_m } => format!("gaussian, sigma {:.3} mm", sigma_m * 1e3),
        classic::Filter::GaussianVoxels { sigma_voxels } => format!("gaussian, sigma {sigma_voxels} voxels"),
        classic::Filter::Butterworth { cutoff_per_m, order } => format!("butterworth order {order}, cut-off {cutoff_per_m:.1} 1/m"),
    }
}

/// The smallest voxel size along the axes with more than one voxel, m.
fn wave_voxel_min(mask: &Array3<bool>, voxel_size_m: [f64; 3]) -> f64 {
    (0..3).filter(|&a| mask.shape()[a] > 1).map(|a| voxel_size_m[a]).fold(f64::INFINITY, f64::min)
}

/// The inversion (`mre_solver::classic`): AHI per frequency, averaged over the frequencies
/// (each frequency's components combined by `classic::ahi`), or MDEV over all of them.
fn reconstruct(method: Method, wave: &Array5<Complex64>, mask: &Array3<bool>, d: &mre_io::data::MreData) -> Result<Elastogram> {
    let omega = |f: f64| 2.0 * std::f64::consts::PI * f;
    match method {
        Method::Bayes => Err(PipelineError::failure("the Bayesian inversion is not a direct reconstruction")),
        Method::Ahi => {
            let per_freq = d
                .frequencies_hz
                .iter()
                .zip(wave.outer_iter())
                .map(|(&f, w)| classic::ahi(w, mask, d.voxel_size_m, omega(f), d.density_kg_m3))
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?;
            Ok(mean_over_frequencies(&per_freq))
        }
        Method::Mdev => {
            let waves: Vec<(f64, _)> = d.frequencies_hz.iter().zip(wave.outer_iter()).map(|(&f, w)| (omega(f), w)).collect();
            classic::mdev(&waves, mask, d.voxel_size_m, d.density_kg_m3).map_err(invalid)
        }
    }
}

/// Voxel-wise mean of the complex moduli of several elastograms over the finite ones.
fn mean_over_frequencies(maps: &[Elastogram]) -> Elastogram {
    let sh = maps[0].storage_modulus_pa.raw_dim();
    let mut sum = Array3::<Complex64>::zeros(sh);
    let mut count = Array3::<f64>::zeros(sh);
    for m in maps {
        Zip::from(&mut sum).and(&mut count).and(&m.storage_modulus_pa).and(&m.loss_modulus_pa).for_each(|s, c, &g1, &g2| {
            if g1.is_finite() && g2.is_finite() {
                *s += Complex64::new(g1, g2);
                *c += 1.0;
            }
        });
    }
    let g = Zip::from(&sum).and(&count).map_collect(|s, &c| if c > 0.0 { s / c } else { Complex64::new(f64::NAN, f64::NAN) });
    Elastogram {
        storage_modulus_pa: g.mapv(|c| c.re),
        loss_modulus_pa: g.mapv(|c| c.im),
        abs_modulus_pa: g.mapv(|c| c.norm()),
        phase_angle_rad: g.mapv(|c| c.im.atan2(c.re)),
    }
}

/// Mean, standard deviation and 5/95 % quantiles of the finite values.
fn stats(mut v: Vec<f64>) -> [f64; 4] {
    if v.is_empty() {
        return [f64::NAN; 4];
    }
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let q = |p: f64| {
        let pos = p * (n - 1.0);
        let (i, frac) = (pos.floor() as usize, pos.fract());
        v[i] + (v[(i + 1).min(v.len() - 1)] - v[i]) * frac
    };
    [mean, std, q(0.05), q(0.95)]
}

/// One row per non-zero label with a finite estimate; spatial statistics
/// (rhat and ess are NaN for classic methods).
fn region_summaries(e: &Elastogram, labels: &Array3<u16>) -> Vec<RegionSummary> {
    let mut ids: Vec<u16> = labels.iter().copied().filter(|&l| l != 0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|label| {
            let pick = |m: &Array3<f64>| -> Vec<f64> {
                Zip::from(labels).and(m).fold(Vec::new(), |mut acc, &l, &v| {
                    if l == label && v.is_finite() {
                        acc.push(v);
                    }
                    acc
                })
            };
            let g1 = pick(&e.storage_modulus_pa);
            if g1.is_empty() {
                return None;
            }
            let [storage_mean_pa, storage_std_pa, storage_q05_pa, storage_q95_pa] = stats(g1);
            let [loss_mean_pa, loss_std_pa, loss_q05_pa, loss_q95_pa] = stats(pick(&e.loss_modulus_pa));
            Some(RegionSummary {
                label,
                storage_mean_pa,
                storage_std_pa,
                storage_q05_pa,
                storage_q95_pa,
                loss_mean_pa,
                loss_std_pa,
                loss_q05_pa,
                loss_q95_pa,
                rhat: f64::NAN,
                ess: f64::NAN,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Axis;

    #[test]
    fn ahi_recovers_a_plane_wave_modulus() {
        let (g, rho, f, h) = (Complex64::new(3000.0, 300.0), 1000.0, 60.0, 0.0015);
        let omega = 2.0 * std::f64::consts::PI * f;
        let k = omega * (rho / g).sqrt();
        let wave = Array5::from_shape_fn((1, 1, 1, 40, 40), |(_, _, _, y, x)| {
            let r = 0.6 * y as f64 * h + 0.8 * x as f64 * h;
            (Complex64::i() * k * r).exp() * 1e-5
        });
        let mask = Array3::from_elem((1, 40, 40), true);
        let e = mean_over_frequencies(&[classic::ahi(wave.index_axis(Axis(0), 0), &mask, [0.005, h, h], omega, rho).unwrap()]);
        let v = e.storage_modulus_pa[[0, 20, 20]];
        assert!((v - 3000.0).abs() < 30.0, "{v}");
        assert!(e.storage_modulus_pa[[0, 0, 0]].is_nan());
        let regions = region_summaries(&e, &mask.mapv(u16::from));
        assert_eq!(regions.len(), 1);
        assert!((regions[0].storage_mean_pa - 3000.0).abs() < 30.0, "{:?}", regions[0]);
        assert!((regions[0].loss_mean_pa - 300.0).abs() < 30.0, "{:?}", regions[0]);
    }

    #[test]
    fn quantiles_interpolate() {
        let [mean, _, q05, q95] = stats((0..=100).map(f64::from).collect());
        assert_eq!(mean, 50.0);
        assert!((q05 - 5.0).abs() < 1e-12 && (q95 - 95.0).abs() < 1e-12);
    }
}
