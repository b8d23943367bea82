//! Nanoseconds per sweep of each sampler on simulated schools-like data:
//! `cargo run --release --example sweep_cost -- [K] [sweeps]`.
use std::time::Instant;

use hiermod_core::{GroupStats, HierPrior, Kernel, Model, SamplerKind, chain_rng};
use rand::RngExt;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let k = args.first().copied().unwrap_or(100);
    let sweeps = args.get(1).copied().unwrap_or(200_000);
    let mut rng = chain_rng(1, 0);
    // Group sizes 4..32 as in the schools data.
    let obs: Vec<(usize, f64)> = (0..k)
        .flat_map(|g| {
            let n = 4 + (g * 7) % 29;
            (0..n).map(move |i| (g, (g % 13) as f64 + (i % 5) as f64))
        })
        .map(|(g, y)| (g, 50.0 + y * 2.0 + rng.random::<f64>()))
        .collect();
    let stats = GroupStats::from_observations(k, obs).unwrap();
    let prior = HierPrior::lecture(50.0, 0.04, [0.5, 50.0], [0.5, 50.0]);
    let model = Model::new(stats, prior).unwrap();
    for kind in [
        SamplerKind::Gibbs,
        SamplerKind::Collapsed,
        SamplerKind::Asis,
    ] {
        let mut rng = chain_rng(2, 0);
        let mut state = model.initial_state(&mut rng);
        let mut kernel = Kernel::new(kind);
        for _ in 0..1000 {
            kernel.sweep(&model, &mut state, &mut rng, true).unwrap();
        }
        let started = Instant::now();
        for _ in 0..sweeps {
            kernel.sweep(&model, &mut state, &mut rng, false).unwrap();
        }
        let ns = started.elapsed().as_nanos() as f64 / sweeps as f64;
        println!(
            "{:>9}: K = {k}, J = {}, {ns:.0} ns per sweep",
            kind.name(),
            model.n_sizes()
        );
    }
}
