//! Running several chains in parallel, reproducibly, and stoppably.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rand_pcg::Pcg64;

use crate::{Error, Quantity, SamplerKind, chain_rng};

/// A model the chains can run: how a chain starts, moves and reports.
pub trait Posterior: Sync {
    /// A chain's state and the kernel's working memory.
    type Chain;
    /// Values reported per draw; with `keep_groups = false`, only those
    /// whose number does not grow with the groups.
    fn n_reported(&self, keep_groups: bool) -> usize;
    /// What each reported value measures (all of them, in report order),
    /// which fixes how it changes with the data's units.
    fn quantities(&self) -> Vec<Quantity>;
    /// Whether `sampler` can move this model.
    fn supports(&self, sampler: SamplerKind) -> bool;
    fn start(&self, sampler: SamplerKind, rng: &mut Pcg64) -> Self::Chain;
    /// One sweep; `warmup` lets the kernel tune itself. An error when the
    /// arithmetic broke down.
    fn sweep(&self, chain: &mut Self::Chain, rng: &mut Pcg64, warmup: bool) -> Result<(), Error>;
    /// Writes the first `out.len()` reported values.
    fn report(&self, chain: &Self::Chain, out: &mut [f64]);
    /// `(shift, factor)` per reported value, if `report` writes them in
    /// other units than the caller's (`InUnits`): the chains store
    /// `shift + factor * value`, in the same pass that copies them.
    fn report_map(&self) -> Option<&[(f64, f64)]> {
        None
    }
}

/// The first (row, column) of `rows` (row-major, `width` columns) whose
/// value is not finite in the caller's units.
fn first_non_finite(rows: &[f64], width: usize, maps: &[(f64, f64)]) -> Option<(usize, usize)> {
    rows.chunks_exact(width).enumerate().find_map(|(b, row)| {
        row.iter()
            .zip(maps)
            .position(|(v, &(shift, factor))| !(shift + factor * v).is_finite())
            .map(|column| (b, column))
    })
}

/// `values` in the caller's units (`Posterior::report_map`).
fn map_values(maps: &[(f64, f64)], values: &mut [f64]) {
    for (value, &(shift, factor)) in values.iter_mut().zip(maps) {
        *value = shift + factor * *value;
    }
}

/// How long the calling thread waits between two calls of its monitor: short
/// enough that an interrupt feels immediate, long enough to cost nothing.
const MONITOR_INTERVAL: Duration = Duration::from_millis(20);
/// Kept draws a chain collects before copying them into its output, at most
/// `STORE_BLOCK_VALUES` values in all (256 KB, within a core's cache).
const STORE_BLOCK: usize = 64;
const STORE_BLOCK_VALUES: usize = 32_768;
/// Sweeps a chain does between two updates of the shared progress count.
const PROGRESS_BATCH: usize = 64;

/// The length and thinning of a run, shared by all its chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub sampler: SamplerKind,
    pub chains: usize,
    /// Total iterations per chain, warm-up included.
    pub iter: usize,
    /// Leading iterations that are discarded.
    pub warmup: usize,
    /// Keep every `thin`-th iteration after warm-up, starting with the first.
    pub thin: usize,
    pub seed: u64,
    /// Store theta as well as mu, sd_b, sd_w. Without theta the output is
    /// 3 columns whatever K, for fits with very many groups.
    pub keep_groups: bool,
}

impl Settings {
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |msg: &str| Err(Error::InvalidSettings(msg.into()));
        if self.chains == 0 {
            return bad("chains must be at least 1");
        }
        if self.warmup >= self.iter {
            return bad("warmup must be smaller than iter");
        }
        if self.thin == 0 {
            return bad("thin must be at least 1");
        }
        Ok(())
    }

    /// Kept draws per chain: iterations warmup+1, warmup+1+thin, ... <= iter.
    /// Meaningful only for settings that pass `validate`.
    pub fn n_kept(&self) -> usize {
        (self.iter - self.warmup).div_ceil(self.thin)
    }

    /// Length of one chain's output: `n_kept` rows by one column per
    /// reported value, stored column-major (as an R matrix).
    pub fn output_len<P: Posterior>(&self, posterior: &P) -> Result<usize, Error> {
        self.validate()?;
        if !posterior.supports(self.sampler) {
            return Err(Error::InvalidSettings(format!(
                "sampler {:?} is not available for this model",
                self.sampler.name()
            )));
        }
        self.n_kept()
            .checked_mul(posterior.n_reported(self.keep_groups))
            .ok_or_else(|| Error::InvalidSettings("the draws would not fit in memory".into()))
    }
}

/// What one chain leaves besides its draws.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainOutput {
    /// The starting point, reported like a draw with every value.
    pub init: Vec<f64>,
}

/// Runs `settings.chains` chains on `threads` worker threads.
///
/// `outputs[c]` receives chain `c`'s kept draws, column-major
/// (`Settings::output_len` values). Chain `c` draws from `chain_rng(seed, c)`
/// alone, so the result does not depend on `threads`.
///
/// The calling thread does no sampling: every ~20 ms it calls `monitor` with
/// the number of sweeps done so far (all chains); when `monitor` returns
/// `true` the workers stop at their next sweep and the run returns
/// `Error::Interrupted`. This lets a caller that owns a single-threaded
/// runtime (R) poll for user interrupts on its own thread.
pub fn run_chains<P, F>(
    model: &P,
    settings: &Settings,
    threads: usize,
    outputs: Vec<&mut [f64]>,
    mut monitor: F,
) -> Result<Vec<ChainOutput>, Error>
where
    P: Posterior,
    F: FnMut(u64) -> bool,
{
    let len = settings.output_len(model)?;
    if outputs.len() != settings.chains || outputs.iter().any(|o| o.len() != len) {
        return Err(Error::InvalidSettings(
            "output buffers do not match the run".into(),
        ));
    }
    let threads = threads.clamp(1, settings.chains);
    let stop = AtomicBool::new(false);
    let sweeps_done = AtomicU64::new(0);
    let next_chain = AtomicUsize::new(0);
    // Each worker takes the next unclaimed chain; a chain's buffer moves to
    // whichever worker claims it.
    let jobs: Vec<std::sync::Mutex<Option<&mut [f64]>>> = outputs
        .into_iter()
        .map(|o| std::sync::Mutex::new(Some(o)))
        .collect();

    let results: Vec<(usize, Result<ChainOutput, Error>)> = thread::scope(|scope| {
        // Each worker says when it is done, so that a short run returns at
        // once instead of after the monitor's next nap.
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let done_tx = done_tx.clone();
                let (stop, sweeps_done, next_chain, jobs) =
                    (&stop, &sweeps_done, &next_chain, &jobs);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let c = next_chain.fetch_add(1, Ordering::Relaxed);
                        if c >= settings.chains {
                            break;
                        }
                        let out = jobs[c].lock().ok().and_then(|mut slot| slot.take());
                        let result = match out {
                            Some(out) => run_one_chain(model, settings, c, out, stop, sweeps_done),
                            None => Err(Error::Internal("chain buffer claimed twice".into())),
                        };
                        done.push((c, result));
                    }
                    // The receiver lives until every worker is joined.
                    let _ = done_tx.send(());
                    done
                })
            })
            .collect();
        drop(done_tx);
        let mut running = handles.len();
        while running > 0 {
            match done_rx.recv_timeout(MONITOR_INTERVAL) {
                Ok(()) => running -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if !stop.load(Ordering::Relaxed) && monitor(sweeps_done.load(Ordering::Relaxed))
                    {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                // Every sender is gone: a worker ended without saying so
                // (it panicked); join reports it below.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![(usize::MAX, Err(Error::Internal("a worker panicked".into())))]
                })
            })
            .collect()
    });

    if stop.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    let mut by_chain: Vec<Option<ChainOutput>> = vec![None; settings.chains];
    for (c, result) in results {
        let output = result?;
        by_chain[c] = Some(output);
    }
    by_chain
        .into_iter()
        .map(|o| o.ok_or_else(|| Error::Internal("a chain did not run".into())))
        .collect()
}

/// Stores a block of rows (`width` values each, row-major) into the
/// column-major output of `n_kept` rows from row `start`, mapping each
/// value to the caller's units; returns whether every value is finite.
/// Column by column: consecutive columns read the same cache lines of the
/// block, and a stepping iterator reads them without bounds checks. Each
/// stored column is then checked in a pass of its own, by its values'
/// exponent bits (all ones for infinities and NaN), which needs no branch
/// and no chain of floating-point additions.
fn store_block(
    block: &[f64],
    width: usize,
    maps: &[(f64, f64)],
    out: &mut [f64],
    [n_kept, start]: [usize; 2],
) -> bool {
    const EXPONENT: u64 = 0x7ff0_0000_0000_0000;
    let rows = block.len() / width.max(1);
    let mut non_finite = false;
    for (j, (column, &(shift, factor))) in out.chunks_exact_mut(n_kept).zip(maps).enumerate() {
        let stored = &mut column[start..start + rows];
        for (value, &v) in stored.iter_mut().zip(block[j..].iter().step_by(width)) {
            *value = shift + factor * v;
        }
        non_finite |= stored
            .iter()
            .map(|v| u64::from(v.to_bits() & EXPONENT == EXPONENT))
            .sum::<u64>()
            > 0;
    }
    !non_finite
}

fn run_one_chain<P: Posterior>(
    model: &P,
    settings: &Settings,
    chain: usize,
    out: &mut [f64],
    stop: &AtomicBool,
    sweeps_done: &AtomicU64,
) -> Result<ChainOutput, Error> {
    let mut rng = chain_rng(settings.seed, chain);
    let mut state = model.start(settings.sampler, &mut rng);
    // a model that reports in the caller's units maps by the identity
    let identity;
    let maps = match model.report_map() {
        Some(maps) => maps,
        None => {
            identity = vec![(0.0, 1.0); model.n_reported(true)];
            &identity
        }
    };
    let mut init = vec![0.0; model.n_reported(true)];
    model.report(&state, &mut init);
    map_values(maps, &mut init);
    let width = model.n_reported(settings.keep_groups);

    let n_kept = settings.n_kept();
    // Kept draws collect row by row in a block that is then copied column
    // by column into the column-major output: one row at a time would
    // write to `width` places far apart per draw (5 ns a value with 103
    // columns), a block writes runs of up to `STORE_BLOCK` consecutive
    // values.
    let block_rows = (STORE_BLOCK_VALUES / width.max(1)).clamp(1, STORE_BLOCK);
    let mut block = vec![0.0; block_rows * width];
    let (mut in_block, mut block_start) = (0, 0);
    // The values that do not grow with the groups, checked at every sweep.
    let mut globals = vec![0.0; model.n_reported(false)];
    let non_finite = |iteration, values: &[f64]| {
        values
            .iter()
            .position(|v| !v.is_finite())
            .map(|column| Error::NonFinite {
                chain,
                iteration,
                column,
            })
    };
    if let Some(e) = non_finite(0, &init) {
        return Err(e);
    }
    let mut kept = 0;
    for it in 1..=settings.iter {
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        model.sweep(&mut state, &mut rng, it <= settings.warmup)?;
        if it > settings.warmup && (it - settings.warmup - 1) % settings.thin == 0 {
            let row = &mut block[in_block * width..(in_block + 1) * width];
            model.report(&state, row);
            // the global values at once, as at every other sweep; all of
            // them when the block is stored
            let n_global = globals.len();
            globals.copy_from_slice(&row[..n_global]);
            map_values(maps, &mut globals);
            if let Some(e) = non_finite(it, &globals) {
                return Err(e);
            }
            kept += 1;
            in_block += 1;
            if in_block == block_rows || kept == n_kept {
                // One pass maps each value to the caller's units, checks
                // it and stores it.
                let finite = store_block(
                    &block[..in_block * width],
                    width,
                    maps,
                    out,
                    [n_kept, block_start],
                );
                if !finite {
                    return Err(first_non_finite(&block[..in_block * width], width, maps)
                        .map(|(b, column)| Error::NonFinite {
                            chain,
                            iteration: settings.warmup + 1 + (block_start + b) * settings.thin,
                            column,
                        })
                        .unwrap_or(Error::Internal(
                            "a non-finite value was not found again".into(),
                        )));
                }
                (block_start, in_block) = (kept, 0);
            }
        } else {
            model.report(&state, &mut globals);
            map_values(maps, &mut globals);
            if let Some(e) = non_finite(it, &globals) {
                return Err(e);
            }
        }
        // Counting in batches keeps the shared counter's cache line from
        // bouncing between threads at every sweep.
        if it % PROGRESS_BATCH == 0 || it == settings.iter {
            sweeps_done.fetch_add(
                (it - 1) as u64 % PROGRESS_BATCH as u64 + 1,
                Ordering::Relaxed,
            );
        }
    }
    debug_assert_eq!(kept, n_kept);
    Ok(ChainOutput { init })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_block_is_transposed_mapped_and_checked() {
        // 3 rows of 2 columns into a 4-row column-major output from row 1
        let block = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let maps = [(10.0, 1.0), (0.0, 2.0)];
        let mut out = vec![0.0; 8];
        assert!(store_block(&block, 2, &maps, &mut out, [4, 1]));
        assert_eq!(out, [0.0, 11.0, 13.0, 15.0, 0.0, 4.0, 8.0, 12.0]);
        for bad in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            let mut with_bad = block;
            with_bad[3] = bad;
            assert!(!store_block(&with_bad, 2, &maps, &mut out, [4, 1]));
        }
        // a finite value that the change of units takes past the range
        let huge = [(0.0, 1.0), (0.0, 1e308)];
        assert!(!store_block(&block, 2, &huge, &mut out, [4, 1]));
    }
    use crate::{GroupStats, SdPrior, Tree, TreePrior, Within};

    fn model() -> Tree {
        let obs = (0..40).map(|i| (i % 4, (i % 7) as f64 + 3.0 * (i % 4) as f64));
        let stats = GroupStats::from_observations(4, obs).unwrap();
        let gamma = SdPrior::GammaPrecision {
            shape: 1.0,
            rate: 1.0,
        };
        let prior = TreePrior {
            mu0: 5.0,
            tau0: 0.01,
            levels: vec![gamma],
            within: Within::Common { prior: gamma },
        };
        Tree::new(vec![vec![0; 4]], stats, prior).unwrap()
    }

    fn settings() -> Settings {
        Settings {
            sampler: SamplerKind::Gibbs,
            chains: 3,
            iter: 50,
            warmup: 10,
            thin: 3,
            seed: 99,
            keep_groups: true,
        }
    }

    fn run(threads: usize, settings: &Settings) -> Result<Vec<Vec<f64>>, Error> {
        let m = model();
        let len = settings.output_len(&m)?;
        let mut bufs = vec![vec![0.0; len]; settings.chains];
        run_chains(
            &m,
            settings,
            threads,
            bufs.iter_mut().map(|b| b.as_mut_slice()).collect(),
            |_| false,
        )?;
        Ok(bufs)
    }

    const SAMPLERS: [SamplerKind; 3] = [
        SamplerKind::Collapsed,
        SamplerKind::Asis,
        SamplerKind::Gibbs,
    ];

    #[test]
    fn draws_do_not_depend_on_threads() {
        for sampler in SAMPLERS {
            let s = Settings {
                sampler,
                ..settings()
            };
            let one = run(1, &s).unwrap();
            assert_eq!(one, run(2, &s).unwrap());
            assert_eq!(one, run(8, &s).unwrap());
            assert_ne!(one[0], one[1], "chains must differ");
            assert_ne!(one, run(1, &Settings { seed: 100, ..s }).unwrap());
        }
    }

    #[test]
    fn a_chain_does_not_depend_on_the_other_chains() {
        let s = settings();
        let three = run(2, &s).unwrap();
        let one = run(1, &Settings { chains: 1, ..s }).unwrap();
        assert_eq!(one[0], three[0]);
    }

    #[test]
    fn keeping_only_global_parameters_stores_their_columns() {
        for sampler in SAMPLERS {
            let s = Settings {
                sampler,
                ..settings()
            };
            let all = run(2, &s).unwrap();
            let global = run(
                2,
                &Settings {
                    keep_groups: false,
                    ..s
                },
            )
            .unwrap();
            let n = s.n_kept();
            assert_eq!(global[0].len(), 3 * n);
            assert_eq!(global[1][..], all[1][..3 * n]);
        }
    }

    #[test]
    fn thinning_keeps_the_first_post_warmup_draw() {
        let s = settings();
        assert_eq!(s.n_kept(), 14); // iterations 11, 14, ..., 50
        let thin1 = Settings { thin: 1, ..s };
        let all = run(1, &thin1).unwrap();
        let thinned = run(1, &s).unwrap();
        let n_all = thin1.n_kept();
        for j in 0..model().n_reported(true) {
            for r in 0..s.n_kept() {
                assert_eq!(thinned[0][j * s.n_kept() + r], all[0][j * n_all + 3 * r]);
            }
        }
    }

    #[test]
    fn monitor_stops_the_run() {
        let m = model();
        let s = Settings {
            iter: usize::MAX / 2,
            ..settings()
        };
        let mut bufs = vec![Vec::new(); s.chains];
        // Buffers of the wrong size are refused before any work.
        let refused = run_chains(
            &m,
            &s,
            2,
            bufs.iter_mut().map(|b| b.as_mut_slice()).collect(),
            |_| false,
        );
        assert!(matches!(refused, Err(Error::InvalidSettings(_))));

        let s = Settings {
            iter: 200_000_000,
            warmup: 199_999_999,
            ..settings()
        };
        let mut bufs = vec![vec![0.0; s.output_len(&m).unwrap()]; s.chains];
        let mut calls = 0;
        let started = std::time::Instant::now();
        let result = run_chains(
            &m,
            &s,
            2,
            bufs.iter_mut().map(|b| b.as_mut_slice()).collect(),
            |_| {
                calls += 1;
                calls > 2
            },
        );
        assert_eq!(result, Err(Error::Interrupted));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn bad_settings_are_errors() {
        for s in [
            Settings {
                chains: 0,
                ..settings()
            },
            Settings {
                warmup: 50,
                ..settings()
            },
            Settings {
                thin: 0,
                ..settings()
            },
        ] {
            assert!(matches!(run(1, &s), Err(Error::InvalidSettings(_))));
        }
    }
}
