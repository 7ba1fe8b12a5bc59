//! The model check of a Bayesian result ([`mre_inverse::model_check`]) in the pipeline: run at
//! the posterior mean, recorded in the mre-result (`/residual_z`, provenance `model_check`
//! with its numbers) and, on a misfit, a warning naming the frequencies and components and
//! what to try.

use mre_inverse::model_check::{check, CheckData, CheckOptions, ModelCheck, NoiseResponse, NoiseSource, Verdict};
use mre_inverse::{ForwardModel, Measurements, Moduli};
use mre_io::hdf5::MreResult;
use ndarray::Array3;
use num_complex::Complex64;
use rayon::prelude::*;

/// What the check of a result needs besides the fitted model.
pub(crate) struct CheckInput<'a> {
    /// The measurements (the measured wave and the mask).
    pub meas: &'a Measurements,
    /// The data the likelihood fits, when it is not the measured wave (the wave minus the
    /// discretisation error of the approximation-error model).
    pub reference: Option<&'a [Vec<Array3<Complex64>>]>,
    /// The known noise level per frequency, when the likelihood used one.
    pub known_noise: Option<&'a [f64]>,
    /// The letters of the components (`"z"`, `"xy"`, …), for messages.
    pub components: &'a str,
    /// The likelihood's model-error covariance, if any: the residual is whitened with it.
    pub covariance: Option<&'a mre_inverse::ModelErrorCovariance>,
    /// The fitted model is the Navier model (`Some(bulk modulus inferred)`), not the scalar one.
    pub navier: Option<bool>,
}

/// The check of `forward` at `moduli` (the posterior mean), with `response` the prediction's
/// response to the data (`None` when the prediction does not depend on the data); the
/// reason when the data cannot be checked (e.g. noise-free data).
pub(crate) fn run(
    forward: &dyn ForwardModel,
    response: Option<&NoiseResponse<'_>>,
    moduli: &Moduli,
    input: &CheckInput<'_>,
) -> std::result::Result<ModelCheck, String> {
    let m = input.meas;
    let measured: Vec<Vec<Array3<Complex64>>> =
        (0..m.n_frequencies()).map(|f| (0..m.n_components()).map(|c| m.field(f, c)).collect()).collect();
    let predicted = (0..forward.n_frequencies())
        .into_par_iter()
        .map(|f| forward.predict(f, moduli))
        .collect::<mre_inverse::Result<Vec<_>>>()
        .map_err(|e| e.to_string())?;
    let reference = input.reference.unwrap_or(&measured);
    let data = CheckData {
        measured: &measured,
        reference,
        predicted: &predicted,
        weight: forward.predicted(),
        mask: &m.mask,
        known_noise: input.known_noise,
        whitening: input.covariance,
    };
    check(&data, response, &CheckOptions::default()).map_err(|e| e.to_string())
}

fn component(components: &str, c: usize) -> String {
    components.chars().nth(c).map_or_else(|| c.to_string(), String::from)
}

/// Writes the check into `result`: `/residual_z` and the provenance keys `model_check`
/// (`fits`, `misfit` or `not checked: …`), `model_check_statistic`, `model_check_p_value`,
/// `model_check_threshold`, `model_check_noise` and `model_check_entries`; warns (tracing,
/// this runs on rank 0 only) on a misfit.
pub(crate) fn record(result: &mut MreResult, check: std::result::Result<ModelCheck, String>, input: &CheckInput<'_>) {
    let extra = &mut result.provenance.extra;
    let c = match check {
        Ok(c) => c,
        Err(reason) => {
            tracing::warn!(%reason, "model check not possible");
            extra.push(("model_check".into(), format!("not checked: {reason}")));
            return;
        }
    };
    let hz = &input.meas.frequencies_hz;
    let o = &c.options;
    let entries: Vec<String> = c
        .entries
        .iter()
        .map(|e| {
            format!(
                "{} Hz {}: ratio {:.4} (noise alone {:.4} ± {:.4} in ln), z {:+.2}, p {:.3e}, noise std {:.4e} m, residual RMS {:.4e} m{}",
                hz[e.frequency],
                component(input.components, e.component),
                e.ratio,
                e.null_log_ratio.0.exp(),
                e.null_log_ratio.1,
                e.z,
                e.p_value,
                e.noise_std,
                e.residual_rms,
                if e.fails { ", fails" } else { "" }
            )
        })
        .collect();
    extra.push(("model_check".into(), c.verdict.name().into()));
    extra.push(("model_check_statistic".into(), c.statistic.to_string()));
    extra.push(("model_check_p_value".into(), c.p_value.to_string()));
    extra.push((
        "model_check_threshold".into(),
        format!(
            "misfit when the Šidák-corrected p-value of the largest z over {} frequencies × components is below {} (H0: residual power ≤ {} × that of noise alone; null from {} simulated noise fields)",
            c.entries.len(),
            o.alpha,
            1.0 + o.tolerance,
            o.replicates
        ),
    ));
    extra.push((
        "model_check_noise".into(),
        match c.noise {
            NoiseSource::Known => "known (/noise_std)".into(),
            NoiseSource::HighPass => "estimated from the measured wave's high-pass (robust Immerkaer estimate)".into(),
        },
    ));
    extra.push(("model_check_entries".into(), entries.join("; ")));
    if c.verdict == Verdict::Misfit {
        let advice = advice(&c, input);
        tracing::warn!(
            statistic = c.statistic,
            p_value = c.p_value,
            "model check: the model does not fit the data {advice}. The residual map is /residual_z (and the -residual-z.png figure)"
        );
        extra.push(("model_check_advice".into(), advice));
    } else {
        tracing::info!(statistic = c.statistic, p_value = c.p_value, "model check: the model fits the data");
    }
    result.residual_z = Some(c.residual_z);
}

/// Where a misfit is and what to try: "at 60 Hz x (residual 3.10× the noise power), …; the
/// posterior may be confidently wrong. Try …".
fn advice(c: &ModelCheck, input: &CheckInput<'_>) -> String {
    let hz = &input.meas.frequencies_hz;
    let failing: Vec<String> = c
        .failing()
        .map(|e| format!("{} Hz {} (residual {:.2}× the noise power)", hz[e.frequency], component(input.components, e.component), e.ratio))
        .collect();
    let failing_frequencies: std::collections::BTreeSet<usize> = c.failing().map(|e| e.frequency).collect();
    let mut hints = Vec::new();
    match input.navier {
        None if input.meas.n_components() >= 2 => hints.push(
            "`--model navier` for vector data (compression waves couple the components; the scalar model treats them apart)".to_string(),
        ),
        Some(false) => hints.push("`--bulk-modulus infer` if the material may be compressible".to_string()),
        _ => {}
    }
    if failing_frequencies.len() < hz.len() {
        hints.push(
            "a frequency-dependent (dispersion) model, or inverting the failing frequencies separately: only some frequencies fail".into(),
        );
    }
    hints.push("`--parameterization field` if the labels miss structure; spatially correlated noise (filtered or interpolated data) also shows as misfit".into());
    format!("at {}; the posterior may be confidently wrong. Try {}", failing.join(", "), hints.join("; or "))
}
