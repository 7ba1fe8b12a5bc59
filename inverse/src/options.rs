//! The named choices of an inversion (method, filter, curl, parameterisation, likelihood, drive,
//! approximation-error model, sampler): one enum per choice with one list of names and
//! descriptions, which the CLI (`--method bayes`), the configs (`[invert] method = "bayes"`,
//! through serde), the Python package and the error messages all use.

use std::fmt;

/// An option with a fixed set of named values.
pub trait Choice: Copy + PartialEq + Send + Sync + 'static {
    /// Every value, in the order the help lists them.
    const ALL: &'static [Self];

    /// The value's name on the command line and in configs (lowercase).
    fn name(self) -> &'static str;

    /// One line on what the value does.
    fn help(self) -> &'static str;

    /// The value called `name`, or an error listing the names.
    fn parse(name: &str) -> Result<Self, String> {
        Self::ALL.iter().copied().find(|v| v.name() == name).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|v| v.name()).collect();
            format!("`{name}`: expected one of {}", names.join(", "))
        })
    }
}

/// Declares an enum of named choices: each variant with its doc comment, its name and one line
/// of help. Generates the [`Choice`] implementation, `Display` (the name) and serde
/// (de)serialisation as the name, so a config and the command line accept the same words.
///
/// ```
/// mre_inverse::choice_enum! {
///     /// Colour of the figures.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Colour {
///         /// Shades of grey.
///         Grey => ("grey", "shades of grey"),
///         /// Viridis.
///         Viridis => ("viridis", "perceptually uniform blue–green–yellow"),
///     }
/// }
/// use mre_inverse::options::Choice;
/// assert_eq!(Colour::parse("grey"), Ok(Colour::Grey));
/// assert_eq!(Colour::Viridis.to_string(), "viridis");
/// ```
#[macro_export]
macro_rules! choice_enum {
    (
        $(#[$attr:meta])*
        $vis:vis enum $ty:ident {
            $( $(#[$vattr:meta])* $variant:ident => ($name:literal, $help:literal) ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        $vis enum $ty {
            $( $(#[$vattr])* $variant, )+
        }

        impl $crate::options::Choice for $ty {
            const ALL: &'static [Self] = &[$( $ty::$variant ),+];
            fn name(self) -> &'static str {
                match self { $( $ty::$variant => $name, )+ }
            }
            fn help(self) -> &'static str {
                match self { $( $ty::$variant => $help, )+ }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::options::Choice::name(*self))
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str($crate::options::Choice::name(*self))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                d.deserialize_str($crate::options::ChoiceVisitor::<$ty>::new())
            }
        }
    };
}

/// serde visitor of a [`Choice`] given by its name (used by [`choice_enum!`]).
#[doc(hidden)]
pub struct ChoiceVisitor<T>(std::marker::PhantomData<T>);

impl<T> ChoiceVisitor<T> {
    /// A visitor.
    pub fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<T> Default for ChoiceVisitor<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Choice> serde::de::Visitor<'_> for ChoiceVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = T::ALL.iter().map(|v| format!("\"{}\"", v.name())).collect();
        write!(f, "one of {}", names.join(", "))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        T::parse(v).map_err(E::custom)
    }
}

crate::choice_enum! {
    /// Inversion method.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Method {
        /// Algebraic Helmholtz inversion, voxel by voxel, averaged over frequencies and components.
        Ahi => ("ahi", "algebraic Helmholtz inversion, voxel by voxel, averaged over frequencies and components"),
        /// Multifrequency dual elasto-visco inversion.
        Mdev => ("mdev", "multifrequency dual elasto-visco inversion"),
        /// Bayesian inversion against the wave-equation forward model: posterior mean,
        /// standard deviation and 90 % intervals, with draws and diagnostics.
        Bayes => ("bayes", "Bayesian inversion against the wave-equation forward model: posterior mean, std, 90 % intervals, draws"),
    }
}

crate::choice_enum! {
    /// Spatial filter applied to the complex wave field before a direct inversion (AHI, MDEV);
    /// the named presets of `mre_solver::classic::Filter`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Filter {
        /// Chosen from the data per frequency (`mre_solver::classic::choose_filter`): the noise
        /// and the wavelength are estimated and the narrowest Gaussian-weighted local linear
        /// filter is taken whose predicted noise bias of G' is at most 2 %, with σ at most λ/2π.
        #[default]
        Auto => ("auto", "chosen from the data: the narrowest Gaussian (local linear at the mask edge) whose noise bias is ≤ 2 %, σ ≤ λ/2π"),
        /// No filtering.
        None => ("none", "no filtering"),
        /// Gaussian smoothing, σ = 1 voxel, inside the mask (normalised convolution).
        Gaussian => ("gaussian", "Gaussian smoothing, σ = 1 voxel, inside the mask (normalised convolution)"),
        /// Butterworth low-pass in k-space, order 4, cut-off 1/(6 voxels) cycles per metre
        /// (mirror-extended at the grid edges).
        Butterworth => ("butterworth", "Butterworth low-pass in k-space, order 4, cut-off 1/(6 voxels)"),
    }
}

crate::choice_enum! {
    /// The curl of the displacement before a direct inversion (AHI, MDEV): it removes the
    /// compression waves (`mre_solver::classic::curl`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Curl {
        /// On for vector data (two in-plane components on a slice, two or three components on a
        /// 3-D grid), off for one component.
        #[default]
        Auto => ("auto", "on for vector data (x and y on a slice, two or three components in 3-D), off for one component"),
        /// Invert the curl; an error when the data's components have none.
        On => ("on", "invert the curl of the displacement (an error for one component)"),
        /// Invert the displacement components as they are.
        Off => ("off", "invert the displacement components as they are"),
    }
}

crate::choice_enum! {
    /// Parameterisation of the moduli.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Parameterization {
        /// log G' and log G'' per label of `/labels` (posterior by NUTS or independence sampling).
        Regions => ("regions", "log G' and log G'' per label of /labels (posterior by sampling)"),
        /// Smooth log G' and log G'' fields on a control grid with a GMRF prior (MAP + Laplace).
        Field => ("field", "smooth log G' and log G'' fields on a control grid with a GMRF prior (MAP + Laplace)"),
    }
}

crate::choice_enum! {
    /// Likelihood.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum LikelihoodKind {
        /// Complex Gaussian on the displacement field `/wave`.
        #[default]
        Wave => ("wave", "complex Gaussian on the displacement field /wave"),
        /// Complex Gaussian on the motion-encoded images `/images` (no phase unwrapping).
        Images => ("images", "complex Gaussian on the motion-encoded images /images (no phase unwrapping)"),
    }
}

crate::choice_enum! {
    /// How the forward model is driven.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum DriveKind {
        /// The measured displacement on the mask's boundary layer is prescribed (no actuator model).
        #[default]
        Boundary => ("boundary", "the measured displacement on the mask's boundary layer is prescribed"),
        /// The whole grid is modelled, driven by an actuator plane (`drive_faces`) with absorbing
        /// layers outside the other faces; the drive amplitude is fitted (regions only).
        Actuator => ("actuator", "the whole grid driven by an actuator plane with absorbing layers (regions only)"),
    }
}

crate::choice_enum! {
    /// Approximation-error model (regions, measured boundary, wave likelihood).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum ModelErrorKind {
        /// After a first MAP: subtract the discretisation error estimated on a 3× finer grid (when
        /// that grid has at most 2 million voxels) and integrate out where the region interfaces
        /// lie inside their voxels; then MAP, Laplace and draws with that likelihood.
        #[default]
        Auto => ("auto", "discretisation error from a 3× finer grid and interface positions integrated out"),
        /// The plain model (the label staircase and the voxel-size discretisation taken as exact).
        None => ("none", "the plain model (staircase and discretisation taken as exact)"),
    }
}

crate::choice_enum! {
    /// Forward model of the Bayesian inversion (measured-boundary drive).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum ModelKind {
        /// Navier when the data have every in-plane component of a slice (or all three in 3-D),
        /// scalar otherwise.
        #[default]
        Auto => ("auto", "navier when the data have both in-plane components of a slice or all three components, scalar otherwise"),
        /// The vector Navier equation with the pressure as unknown (nearly incompressible).
        Navier => ("navier", "the vector Navier equation, all components together, pressure as unknown (nearly incompressible)"),
        /// The scalar wave equation per component (each component an independent field).
        Scalar => ("scalar", "the scalar wave equation, each component an independent field"),
    }
}

crate::choice_enum! {
    /// Posterior sampler for `regions`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum SamplerKind {
        /// Independence Metropolis–Hastings around the Laplace approximation (one evaluation per draw).
        #[default]
        Independence => ("independence", "independence Metropolis–Hastings around the Laplace approximation"),
        /// No-U-Turn sampler in whitened coordinates (about five gradient evaluations per draw).
        Nuts => ("nuts", "No-U-Turn sampler in whitened coordinates"),
    }
}

/// The bulk modulus `K` of the Navier forward model (`--bulk-modulus`, `[invert] bulk_modulus`):
/// the word `infer` or `incompressible`, or a number of pascals. Serialised as that word or
/// number; a config may give the number as a TOML number or a string.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum BulkModulus {
    /// One global `log K` inferred as a nuisance parameter with a broad prior (the default):
    /// compressible data get their `K`, nearly incompressible data leave it in the prior's
    /// flat region without affecting G.
    #[default]
    Infer,
    /// Nearly incompressible: `K` fixed at 2.2 GPa (water and soft tissue).
    Incompressible,
    /// A known bulk modulus, Pa (positive, finite).
    Pa(f64),
}

impl BulkModulus {
    /// One line on the accepted values (CLI help and error messages).
    pub const EXPECTED: &'static str = "`infer`, `incompressible` or a bulk modulus in Pa (a positive number, e.g. 2.2e9)";

    /// The value called `text` (`infer`, `incompressible` or a positive finite number of Pa).
    ///
    /// # Errors
    ///
    /// A message naming `text` and what is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "infer" => Ok(Self::Infer),
            "incompressible" => Ok(Self::Incompressible),
            t => t.parse::<f64>().ok().and_then(|v| Self::from_pa(v).ok()).ok_or_else(|| format!("`{t}`: expected {}", Self::EXPECTED)),
        }
    }

    /// A given bulk modulus `pa`, refused unless positive and finite.
    ///
    /// # Errors
    ///
    /// A message naming the value and what is expected.
    pub fn from_pa(pa: f64) -> Result<Self, String> {
        if pa.is_finite() && pa > 0.0 {
            Ok(Self::Pa(pa))
        } else {
            Err(format!("`{pa}`: expected {}", Self::EXPECTED))
        }
    }
}

impl fmt::Display for BulkModulus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Infer => f.write_str("infer"),
            Self::Incompressible => f.write_str("incompressible"),
            Self::Pa(v) => write!(f, "{v:e}"),
        }
    }
}

impl serde::Serialize for BulkModulus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Pa(v) => s.serialize_f64(*v),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for BulkModulus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = BulkModulus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(BulkModulus::EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BulkModulus, E> {
                BulkModulus::parse(v).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<BulkModulus, E> {
                BulkModulus::from_pa(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<BulkModulus, E> {
                BulkModulus::from_pa(v as f64).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<BulkModulus, E> {
                BulkModulus::from_pa(v as f64).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Phase unwrapping of `/phase`, `/images` and `/kspace` data before an inversion.
impl Choice for mre_solver::recon::Unwrap {
    const ALL: &'static [Self] = &[Self::Laplacian, Self::Masked];
    fn name(self) -> &'static str {
        match self {
            Self::Laplacian => "laplacian",
            Self::Masked => "masked",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Laplacian => "Laplacian-based on the whole grid (DCT Poisson solve)",
            Self::Masked => "weighted least squares inside /mask only: for data with noise or wraps outside the tissue",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Choice + serde::Serialize + serde::de::DeserializeOwned + fmt::Debug>() {
        for &v in T::ALL {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.name()));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), v);
            assert_eq!(T::parse(v.name()), Ok(v));
            assert!(!v.help().is_empty());
        }
        let err = serde_json::from_str::<T>("\"no-such-choice\"").unwrap_err().to_string();
        assert!(err.contains("`no-such-choice`: expected one of"), "{err}");
        assert!(err.contains(T::ALL[0].name()), "{err}");
    }

    #[test]
    fn every_choice_serialises_as_its_name_and_parses_back() {
        round_trip::<Method>();
        round_trip::<Filter>();
        round_trip::<Curl>();
        round_trip::<Parameterization>();
        round_trip::<LikelihoodKind>();
        round_trip::<DriveKind>();
        round_trip::<ModelErrorKind>();
        round_trip::<SamplerKind>();
        round_trip::<ModelKind>();
    }

    #[test]
    fn names_are_distinct_within_each_choice() {
        fn distinct<T: Choice>() {
            let mut names: Vec<_> = T::ALL.iter().map(|v| v.name()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), T::ALL.len());
        }
        distinct::<Method>();
        distinct::<Filter>();
        distinct::<Curl>();
        distinct::<Parameterization>();
        distinct::<LikelihoodKind>();
        distinct::<DriveKind>();
        distinct::<ModelErrorKind>();
        distinct::<SamplerKind>();
        distinct::<ModelKind>();
        distinct::<mre_solver::recon::Unwrap>();
    }
}

/// The smallest number of NUTS warm-up draws per chain ([`check_counts`]): fewer do not adapt
/// the step size.
pub const MIN_TUNE: u64 = 10;

/// A count of the Bayesian inversion outside its meaningful range: the option's key (as in
/// `[invert]`, e.g. `"chains"`; the command line's `--chains`) and what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRange {
    /// The key: `chains`, `tune`, `draws` or `field_spacing`.
    pub key: &'static str,
    /// The value given.
    pub value: u64,
    /// What is expected, e.g. `"at least 1"`.
    pub expected: String,
}

/// The one check of the counts of a Bayesian inversion, used by `[invert]` in a run config and
/// by the command line (through `mre_pipeline::bayes::BayesOptions::validate`): `chains`,
/// `draws` and `field_spacing` at least 1 (no chain or no draw gives no posterior; a spacing of
/// 0 voxels no grid), `tune` at least [`MIN_TUNE`]. `None`: not given (the default applies).
///
/// # Errors
///
/// The first count out of range.
pub fn check_counts(chains: Option<u64>, tune: Option<u64>, draws: Option<u64>, field_spacing: Option<u64>) -> Result<(), OutOfRange> {
    let checks = [("chains", chains, 1), ("tune", tune, MIN_TUNE), ("draws", draws, 1), ("field_spacing", field_spacing, 1)];
    for (key, value, min) in checks {
        if let Some(v) = value.filter(|&v| v < min) {
            return Err(OutOfRange { key, value: v, expected: format!("at least {min}") });
        }
    }
    Ok(())
}

/// The one check of the real-valued options of a Bayesian inversion (prior medians, prior
/// width, smoothness), used by `[invert]` and the command line alike: each given value must be
/// positive and finite. Returns the first offending key and value.
///
/// # Errors
///
/// The first value that is not a positive finite number.
pub fn check_positive(values: &[(&'static str, Option<f64>)]) -> Result<(), (&'static str, f64)> {
    match values.iter().find_map(|&(k, v)| v.filter(|v| !(v.is_finite() && *v > 0.0)).map(|v| (k, v))) {
        Some(bad) => Err(bad),
        None => Ok(()),
    }
}

#[cfg(test)]
mod count_tests {
    use super::*;

    #[test]
    fn bulk_modulus_parses_words_and_pascals() {
        assert_eq!(BulkModulus::parse("infer"), Ok(BulkModulus::Infer));
        assert_eq!(BulkModulus::parse("incompressible"), Ok(BulkModulus::Incompressible));
        assert_eq!(BulkModulus::parse("2.2e9"), Ok(BulkModulus::Pa(2.2e9)));
        for bad in ["0", "-1", "nan", "inf", "soft"] {
            let e = BulkModulus::parse(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("infer"), "{e}");
        }
        for v in [BulkModulus::Infer, BulkModulus::Incompressible, BulkModulus::Pa(6500.0)] {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<BulkModulus>(&json).unwrap(), v, "{json}");
            assert_eq!(BulkModulus::parse(&v.to_string()), Ok(v));
        }
        assert_eq!(serde_json::from_str::<BulkModulus>("6500").unwrap(), BulkModulus::Pa(6500.0));
        assert_eq!(serde_json::from_str::<BulkModulus>("\"6.5e3\"").unwrap(), BulkModulus::Pa(6500.0));
        assert!(serde_json::from_str::<BulkModulus>("-3").unwrap_err().to_string().contains("expected"));
    }

    #[test]
    fn counts_below_their_minimum_are_named() {
        assert_eq!(check_counts(Some(4), Some(150), Some(250), None), Ok(()));
        assert_eq!(check_counts(None, None, None, None), Ok(()));
        let e = check_counts(Some(0), None, None, None).unwrap_err();
        assert_eq!((e.key, e.value, e.expected.as_str()), ("chains", 0, "at least 1"));
        assert_eq!(check_counts(None, Some(9), None, None).unwrap_err().key, "tune");
        assert_eq!(check_counts(None, None, Some(0), None).unwrap_err().key, "draws");
        assert_eq!(check_counts(None, None, None, Some(0)).unwrap_err().key, "field_spacing");
    }

    #[test]
    fn reals_must_be_positive_and_finite() {
        assert_eq!(check_positive(&[("a", Some(1.0)), ("b", None)]), Ok(()));
        assert_eq!(check_positive(&[("a", Some(1.0)), ("b", Some(0.0))]), Err(("b", 0.0)));
        assert_eq!(check_positive(&[("a", Some(f64::INFINITY))]), Err(("a", f64::INFINITY)));
        assert!(check_positive(&[("a", Some(f64::NAN))]).is_err());
        assert_eq!(check_positive(&[("a", Some(-2.0))]), Err(("a", -2.0)));
    }
}
