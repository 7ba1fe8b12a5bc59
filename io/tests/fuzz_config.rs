//! Property tests ("fuzzing") of the run configuration: mutations of the shipped configs in
//! `configs/` (keys deleted, values replaced by huge, negative, NaN, infinite or wrongly typed
//! ones) and random `--set` assignments, each through load, build and the resource estimate.
//! The property: no panic, and either a run that fits or an error that names its key and its
//! file (or `--set`).
//!
//! The memory budget is set small ([`BUDGET`]), so the estimate refuses every big run before
//! its arrays are made: a case never allocates more than the budget. A separate test binary,
//! so the budget does not reach other tests.
//!
//! Cases per property: 64, or `PROPTEST_CASES` (scripts/fuzz.sh runs more).

use std::path::{Path, PathBuf};

use mre_io::config::{ConfigError, RunConfig};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// The memory budget of every case, bytes: the shipped configs fit (the largest, brain-3d,
/// is estimated at 613 MiB for its iterative Navier solve; navier-3d-small at 521 MiB for its
/// direct one), runs some times larger are refused.
const BUDGET: u64 = 768 << 20;

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

/// The shipped configs: (file name, text).
fn shipped() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(configs())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    assert!(out.len() >= 4, "configs/ has the shipped configs");
    out
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    Config { cases, ..Config::default() }
}

/// Values a hostile user writes.
fn hostile_value() -> impl Strategy<Value = toml::Value> {
    use toml::Value as V;
    let arr = |v: Vec<V>| V::Array(v);
    prop_oneof![
        Just(V::Integer(i64::MAX)),
        Just(V::Integer(4_294_967_296)),
        Just(V::Integer(1_000_000_000)),
        Just(V::Integer(1_000_000)),
        Just(V::Integer(0)),
        Just(V::Integer(-1)),
        Just(V::Integer(i64::MIN)),
        Just(V::Float(f64::NAN)),
        Just(V::Float(f64::INFINITY)),
        Just(V::Float(-1e300)),
        Just(V::Float(1e9)),
        Just(V::Float(0.0)),
        Just(V::Float(-0.5)),
        Just(V::Boolean(true)),
        Just(V::String(String::new())),
        Just(V::String("x-low".into())),
        Just(V::String("/dev/zero".into())),
        Just(arr(vec![])),
        Just(arr(vec![V::Integer(4_294_967_296), V::Integer(4_294_967_296), V::Integer(2)])),
        Just(arr(vec![V::Integer(1), V::Integer(100_000), V::Integer(100_000)])),
        Just(arr(vec![V::Float(f64::NAN); 3])),
        Just(arr(vec![V::Integer(-1); 3])),
        Just(V::Table(toml::Table::new())),
        any::<i64>().prop_map(V::Integer),
        any::<f64>().prop_map(V::Float),
        "\\PC{0,12}".prop_map(V::String),
    ]
}

/// A mutation of a config: delete the `n`-th leaf (modulo the leaf count), or replace it.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Replace(usize, toml::Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![any::<usize>().prop_map(Mutation::Delete), (any::<usize>(), hostile_value()).prop_map(|(n, v)| Mutation::Replace(n, v)),]
}

/// Every value in `t` (tables, arrays and their entries, recursively) as a path of table keys
/// and array indices.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn paths(v: &toml::Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                here.push(Step::Key(k.clone()));
                out.push(here.clone());
                paths(x, here, out);
                here.pop();
            }
        }
        toml::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                here.push(Step::Index(i));
                out.push(here.clone());
                paths(x, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

/// Apply `m` to the value at `path` of `root`.
fn apply(root: &mut toml::Value, path: &[Step], m: &Mutation) {
    let (last, parents) = path.split_last().expect("a non-empty path");
    let mut cur = root;
    for s in parents {
        cur = match (s, cur) {
            (Step::Key(k), toml::Value::Table(t)) => t.get_mut(k).expect("path exists"),
            (Step::Index(i), toml::Value::Array(a)) => &mut a[*i],
            _ => unreachable!("paths follow the value"),
        };
    }
    match (last, cur, m) {
        (Step::Key(k), toml::Value::Table(t), Mutation::Delete(_)) => {
            t.remove(k);
        }
        (Step::Key(k), toml::Value::Table(t), Mutation::Replace(_, v)) => {
            t.insert(k.clone(), v.clone());
        }
        (Step::Index(i), toml::Value::Array(a), Mutation::Delete(_)) => {
            a.remove(*i);
        }
        (Step::Index(i), toml::Value::Array(a), Mutation::Replace(_, v)) => a[*i] = v.clone(),
        _ => unreachable!("paths follow the value"),
    }
}

/// The property: parse, build and estimate never panic; an error names its key and where it
/// comes from.
fn check(text: &str, file: &str, overrides: &[String]) -> Result<(), TestCaseError> {
    mre_solver::limits::set_max_memory(BUDGET);
    let named = |e: &ConfigError| -> Result<(), TestCaseError> {
        let shown = e.to_string();
        prop_assert!(!e.key.is_empty(), "an error without a key: {shown}");
        prop_assert!(shown.starts_with(file) || shown.starts_with("--set"), "an error without its file: {shown}");
        Ok(())
    };
    match RunConfig::parse(text, file, configs(), overrides) {
        Err(e) => named(&e),
        Ok((cfg, src)) => match cfg.build(&src) {
            Err(e) => named(&e),
            Ok(built) => {
                let estimate = built.estimate(cfg.simulation.threads);
                prop_assert!(estimate.is_ok(), "built, but no estimate: {estimate:?}");
                let estimate = estimate.unwrap();
                prop_assert!(estimate.memory_bytes <= u128::from(BUDGET), "built beyond the budget: {estimate}");
                Ok(())
            }
        },
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_shipped_configs_never_panic(which in any::<usize>(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let configs = shipped();
        let (file, text) = &configs[which % configs.len()];
        let mut doc = toml::Value::Table(text.parse::<toml::Table>().unwrap());
        for m in &mutations {
            let mut all = Vec::new();
            paths(&doc, &mut Vec::new(), &mut all);
            if all.is_empty() {
                break;
            }
            let n = match m { Mutation::Delete(n) | Mutation::Replace(n, _) => *n };
            apply(&mut doc, &all[n % all.len()], m);
        }
        let toml::Value::Table(t) = doc else { unreachable!() };
        // a mutation TOML cannot write (e.g. a value after a table in an array) is no config
        let Ok(mutated) = toml::to_string(&t) else { return Ok(()) };
        check(&mutated, file, &[])?;
    }

    #[test]
    fn random_set_assignments_never_panic(
        which in any::<usize>(),
        keys in prop::collection::vec(
            prop::collection::vec(
                prop_oneof![
                    prop::sample::select(vec![
                        "phantom", "shape", "spins_per_voxel", "voxel_size_m", "tissue", "sequence", "meg", "axes", "motion",
                        "wave", "drive", "simulation", "threads", "phase_offsets", "dummy_scans", "matrix", "invert", "chains",
                        "inclusion", "0", "1", "-1", "+1", "99999999999999999999", "", " ", "[", "\"", "é", "t1_s",
                    ]).prop_map(str::to_string),
                    "\\PC{0,6}",
                ],
                1..5,
            ),
            1..3,
        ),
        values in prop::collection::vec(
            prop_oneof![
                hostile_value().prop_map(|v| v.to_string()),
                "\\PC{0,16}",
                Just("[4294967296, 4294967296, 2]".to_string()),
                Just("{ a = 1 }".to_string()),
                Just("1e9".to_string()),
            ],
            3,
        ),
    ) {
        let configs = shipped();
        let (file, text) = &configs[which % configs.len()];
        let overrides: Vec<String> = keys.iter().zip(values.iter().cycle()).map(|(k, v)| format!("{}={v}", k.join("."))).collect();
        check(text, file, &overrides)?;
    }
}
