//! Invert an mre-data file with the Bayesian inversion through the library: one call, the
//! same one `mre-sim invert DATA.h5 --method bayes` makes (same options, same seed, same
//! posterior bit for bit).
//!
//! Run with
//! `cargo run --release --example invert_file -- DATA.h5 [--output RESULT.h5] [--chains N] [--tune N] [--draws N] [--seed N]`.

use std::error::Error;
use std::path::PathBuf;

use mre_sim::pipeline::invert::{default_output, invert_file, InvertOptions, Method};
use mre_sim::solver::parallel::Serial;

const USAGE: &str = "usage: invert_file DATA.h5 [--output RESULT.h5] [--chains N] [--tune N] [--draws N] [--seed N]";

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let data = PathBuf::from(args.next().ok_or(USAGE)?);
    // The defaults of `mre-sim invert --method bayes`, changed only where asked.
    let mut options = InvertOptions::new(Method::Bayes);
    options.figures = false;
    let mut output = None;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        match flag.as_str() {
            "--output" => output = Some(PathBuf::from(value)),
            "--chains" => options.bayes.chains = value.parse()?,
            "--tune" => options.bayes.tune = value.parse()?,
            "--draws" => options.bayes.draws = value.parse()?,
            "--seed" => options.bayes.seed = value.parse()?,
            _ => return Err(format!("unknown option {flag}; {USAGE}").into()),
        }
    }
    let output = output.unwrap_or_else(|| default_output(&data, Method::Bayes));
    // One process; under MPI, pass an `MpiComm` instead and every rank makes the same call.
    let (result, written) = invert_file(&data, &output, &options, false, &Serial, &())?.expect("rank 0 has the result");
    for r in &result.regions {
        println!(
            "region {}: G' = {:.0} Pa (90 %: {:.0}–{:.0}), G'' = {:.0} Pa, R̂ {:.3}",
            r.label, r.storage_mean_pa, r.storage_q05_pa, r.storage_q95_pa, r.loss_mean_pa, r.rhat
        );
    }
    println!("wrote {}", written.result.display());
    Ok(())
}
