// The broken configs checked through the binary (tests/cli.rs: exit 2, no output) and through
// the library (io/src/config/tests.rs: the same error text), included by both.

/// A small, fast, valid config (2-D, 32×32, one frequency).
pub const SMALL: &str = r#"
[phantom]
shape = [1, 32, 32]
voxel_size_m = [0.005, 0.002, 0.002]
spins_per_voxel = 2
seed = 3
background = "gel"

[[phantom.inclusion]]
shape = "cylinder"
radius_m = 0.01
tissue = "bright"

[[tissue]]
name = "gel"
t1_s = 0.8
t2_s = 0.05
storage_modulus_pa = 2000.0
loss_modulus_pa = 200.0

[[tissue]]
name = "bright"
proton_density = 0.7
t1_s = 1.0
t2_s = 0.08
storage_modulus_pa = 2000.0
loss_modulus_pa = 200.0

[motion]
source = "plane-wave"
frequencies_hz = [60.0]
amplitude_m = 10e-6
propagation_zyx = [0.0, 0.0, 1.0]
polarization_zyx = [1.0, 0.0, 0.0]

[sequence]
tr_s = 0.03
te_s = 0.02
flip_angle_deg = 15.0
dummy_scans = 20

[sequence.meg]
amplitude_t_per_m = 0.03
"#;

/// (description, edit of SMALL as (from, to) or a --set, expected words in the error)
/// A broken config: what is wrong, text edits of SMALL, `--set` overrides, words the error must contain.
type Broken = (&'static str, Vec<(&'static str, &'static str)>, Vec<&'static str>, Vec<&'static str>);

fn broken_cases() -> Vec<Broken> {
    vec![
        (
            "unknown key",
            vec![("spins_per_voxel = 2", "spins_per_voxel = 2\nspin_per_voxel = 3")],
            vec![],
            vec!["spin_per_voxel", "unknown field", ":6"],
        ),
        (
            "wrong type",
            vec![("spins_per_voxel = 2", "spins_per_voxel = \"two\"")],
            vec![],
            vec!["phantom.spins_per_voxel", "invalid type", ":5"],
        ),
        ("negative T1", vec![("t1_s = 0.8", "t1_s = -0.8")], vec![], vec!["tissue[0].t1_s", "-0.8", "positive", ":16"]),
        ("zero FOV", vec![], vec!["sequence.fov_m=[0.005, 0.0, 0.064]"], vec!["fov_m[1]", "positive", "--set"]),
        (
            "zero voxel size",
            vec![("voxel_size_m = [0.005, 0.002, 0.002]", "voxel_size_m = [0.005, 0.0, 0.002]")],
            vec![],
            vec!["phantom.voxel_size_m", "positive", ":4"],
        ),
        ("TE too short for the MEG", vec![("te_s = 0.02", "te_s = 0.012")], vec![], vec!["sequence.te_s", "minimum TE", "MEG", ":38"]),
        ("TR too short", vec![("tr_s = 0.03", "tr_s = 0.019")], vec![], vec!["sequence.tr_s", "minimum TR"]),
        (
            "gradient above scanner limit",
            vec![("amplitude_t_per_m = 0.03", "amplitude_t_per_m = 0.09")],
            vec![],
            vec!["sequence.meg.amplitude_t_per_m", "maximum gradient", "90.0 mT/m"],
        ),
        ("slew above scanner limit", vec![], vec!["scanner.max_slew_t_per_m_per_s=5"], vec!["slew"]),
        (
            "missing phantom file",
            vec![("background = \"gel\"", "labels_file = \"nowhere.h5\"")],
            vec![],
            vec!["phantom.labels_file", "nowhere.h5"],
        ),
        (
            "unknown tissue name",
            vec![("tissue = \"bright\"", "tissue = \"brigth\"")],
            vec![],
            vec!["phantom.inclusion[0].tissue", "brigth", "gel"],
        ),
        (
            "polarisation along propagation",
            vec![("polarization_zyx = [1.0, 0.0, 0.0]", "polarization_zyx = [0.0, 0.0, 1.0]")],
            vec![],
            vec!["motion.polarization_zyx", "perpendicular"],
        ),
        (
            "zero frequency",
            vec![("frequencies_hz = [60.0]", "frequencies_hz = [0.0]")],
            vec![],
            vec!["motion.frequencies_hz[0]", "positive"],
        ),
        (
            "unknown enum value",
            vec![("dummy_scans = 20", "dummy_scans = 20\nspoiling = \"perfect\"")],
            vec![],
            vec!["spoiling", "perfect", "ideal"],
        ),
        ("T2 longer than T1", vec![("t2_s = 0.08", "t2_s = 2.0")], vec![], vec!["tissue[1].t2_s", "T2 not longer than T1"]),
        ("bad --set syntax", vec![], vec!["sequence.te_s"], vec!["--set", "section.key=value"]),
        ("only 2 phase offsets", vec![], vec!["sequence.phase_offsets=2"], vec!["phase_offsets", "at least 3"]),
        (
            "mechanically different tissues under a plane wave",
            vec![(
                "storage_modulus_pa = 2000.0\nloss_modulus_pa = 200.0\n\n[motion]",
                "storage_modulus_pa = 6000.0\nloss_modulus_pa = 200.0\n\n[motion]",
            )],
            vec![],
            vec!["motion.medium", "differ mechanically"],
        ),
        ("TOML syntax error", vec![("[sequence]", "[sequence")], vec![], vec!["small.toml:36", "invalid table header"]),
    ]
}
