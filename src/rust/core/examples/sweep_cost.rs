//! Nanoseconds per sweep of each sampler on simulated schools-like data,
//! two levels (K schools) and three (the schools in regions of 100):
//! `cargo run --release --example sweep_cost -- [K] [sweeps] [sampler]`.
use std::time::Instant;

use hiermod_core::{
    GroupStats, Posterior, SamplerKind, SdPrior, Tree, TreePrior, Within, chain_rng,
};
use rand::RngExt;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let k = args.first().copied().unwrap_or(100);
    let sweeps = args.get(1).copied().unwrap_or(200_000);
    let only = std::env::args().nth(3);
    // Group sizes 4..32 as in the schools data; for three levels, regions
    // of 100 schools with effects of their own.
    let data = |region_effect: f64| {
        let mut rng = chain_rng(1, 0);
        let obs: Vec<(usize, f64)> = (0..k)
            .flat_map(|g| {
                let n = 4 + (g * 7) % 29;
                let mean = (g % 13) as f64 + region_effect * (g / 100 % 7) as f64;
                (0..n).map(move |i| (g, mean + (i % 5) as f64))
            })
            .map(|(g, y)| (g, 50.0 + y * 2.0 + rng.random::<f64>()))
            .collect();
        GroupStats::from_observations(k, obs).unwrap()
    };
    let gamma = SdPrior::GammaPrecision {
        shape: 0.5,
        rate: 50.0,
    };
    let regions = k.div_ceil(100);
    let designs = [
        ("two-level", vec![vec![0; k]], 0.0),
        (
            "nested",
            vec![vec![0; regions], (0..k).map(|g| g / 100).collect()],
            1.0,
        ),
    ];
    for (name, parents, region_effect) in designs {
        if name == "nested" && regions < 2 {
            continue;
        }
        let prior = TreePrior {
            mu0: 50.0,
            tau0: 0.04,
            levels: vec![gamma; parents.len()],
            within: Within::Common { prior: gamma },
        };
        let tree = Tree::new(parents, data(region_effect), prior).unwrap();
        for kind in [
            SamplerKind::Gibbs,
            SamplerKind::Collapsed,
            SamplerKind::Asis,
        ] {
            if !tree.supports(kind) || only.as_ref().is_some_and(|name| name != kind.name()) {
                continue;
            }
            let mut rng = chain_rng(2, 0);
            let mut chain = tree.start(kind, &mut rng);
            for _ in 0..1000 {
                tree.sweep(&mut chain, &mut rng, true).unwrap();
            }
            let started = Instant::now();
            for _ in 0..sweeps {
                tree.sweep(&mut chain, &mut rng, false).unwrap();
            }
            let ns = started.elapsed().as_nanos() as f64 / sweeps as f64;
            println!(
                "{name:>9} {:>9}: K = {k}, {ns:.0} ns per sweep",
                kind.name()
            );
        }
    }
}
