//! extendr bindings: converts R vectors into `hiermod_core` inputs and the
//! core's outputs into R matrices. No sampling maths lives here.
//!
//! Errors come back to R as `error` and `kind` strings in the returned list
//! (`Failure`), never as an R error raised from Rust: the R layer raises a
//! classed condition, and a user's text (a group label with `%`) never
//! reaches a C format string.

use std::ffi::{c_int, c_void};

use extendr_api::prelude::*;
use hiermod_core::{
    CrossStats, Crossed, CrossedData, CrossedFactor, CsvReader, EffectPrior, Fields,
    GroupAccumulator, GroupStats, InUnits, Layout, LevelPrior, Lmm, LmmData, LmmLevel, LmmPrior,
    Messages, Posterior, SamplerKind, SdPrior, Settings, Tree, TreePrior, Units, Within,
    WithinKind, column_summaries, diagnostics, log_marginal_likelihood_in_units, run_chains,
};

unsafe extern "C" {
    fn R_ToplevelExec(fun: Option<unsafe extern "C" fn(*mut c_void)>, data: *mut c_void) -> c_int;
    fn R_CheckUserInterrupt();
}

unsafe extern "C" fn check_interrupt(_data: *mut c_void) {
    // SAFETY: called on R's main thread inside R_ToplevelExec, which catches
    // the long jump an interrupt causes.
    unsafe { R_CheckUserInterrupt() }
}

/// True when the user pressed Esc / Ctrl-C. Must run on R's main thread.
fn user_interrupted() -> bool {
    // SAFETY: R_ToplevelExec is R's documented way to run code that may long
    // jump; it returns FALSE (0) when it did.
    unsafe { R_ToplevelExec(Some(check_interrupt), std::ptr::null_mut()) == 0 }
}

/// An error of a run with what it concerns, so that R can name the
/// argument at fault: "data", "prior", "settings", "numerical" or "internal".
struct Failure {
    kind: &'static str,
    message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            kind: "internal",
            message,
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

impl From<hiermod_core::Error> for Failure {
    fn from(e: hiermod_core::Error) -> Self {
        use hiermod_core::Error as E;
        let kind = match e {
            E::InvalidData(_) => "data",
            E::InvalidPrior(_) => "prior",
            E::InvalidSettings(_) => "settings",
            E::Numerical(_) | E::NonFinite { .. } => "numerical",
            _ => "internal",
        };
        Self {
            kind,
            message: e.to_string(),
        }
    }
}

/// A failure of the data a call was given, as R receives it.
fn data_failure(message: String) -> List {
    Failure {
        kind: "data",
        message,
    }
    .into_list()
}

impl Failure {
    fn into_list(self) -> List {
        List::from_names_and_values(["error", "kind"], [r!(self.message), r!(self.kind)])
            .unwrap_or_default()
    }
}

fn count(value: i32, name: &str) -> std::result::Result<usize, String> {
    usize::try_from(value).map_err(|_| format!("{name} must not be negative"))
}

/// A seed arrives as a double holding a whole number in [0, 2^53).
fn seed_from_double(seed: f64) -> std::result::Result<u64, String> {
    if (0.0..9_007_199_254_740_992.0).contains(&seed) && seed.fract() == 0.0 {
        Ok(seed as u64)
    } else {
        Err("seed must be a whole number in [0, 2^53)".into())
    }
}

/// Per-group sufficient statistics of `y` (1-based `group` codes): with
/// `weights` NULL, counts, means and within sums of squares; with weights
/// (known precisions `1/se^2`), their sums, weighted means and weighted
/// sums of squares. Returns `list(n, mean, ss)` or `list(error = <message>, kind = <kind>)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_group_stats(y: Robj, group: Robj, n_groups: i32, weights: Robj) -> List {
    let run = || -> std::result::Result<List, String> {
        let y = y.as_real_slice().ok_or("y must be a double vector")?;
        let group = group
            .as_integer_slice()
            .ok_or("group must be an integer vector")?;
        if y.len() != group.len() {
            return Err("y and group must have the same length".into());
        }
        let n_groups = count(n_groups, "n_groups")?;
        let codes = group.iter().map(|&g| zero_based(g));
        let stats = if weights.is_null() {
            GroupStats::from_observations(n_groups, codes.zip(y.iter().copied()))
        } else {
            let w = weights
                .as_real_slice()
                .filter(|w| w.len() == y.len())
                .ok_or("weights must be NULL or a double vector as long as y")?;
            let triples = codes.zip(y.iter().copied()).zip(w.iter().copied());
            GroupStats::from_weighted_observations(n_groups, triples.map(|((k, y), w)| (k, y, w)))
        }
        .map_err(|e| e.to_string())?;
        stats_to_r(&stats)
    };
    run().unwrap_or_else(data_failure)
}

/// `list(n, mean, ss)` of group statistics.
fn stats_to_r(stats: &GroupStats) -> std::result::Result<List, String> {
    List::from_names_and_values(
        ["n", "mean", "ss"],
        [r!(stats.n()), r!(stats.ybar()), r!(stats.ss())],
    )
    .map_err(|e| e.to_string())
}

/// A double vector's values, or an error naming it.
fn doubles<'a>(x: &'a Robj, name: &str) -> std::result::Result<&'a [f64], String> {
    x.as_real_slice()
        .ok_or(format!("{name} must be a double vector"))
}

/// Group statistics from R's count, mean and sum-of-squares vectors.
fn stats_from_r(n: &Robj, mean: &Robj, ss: &Robj) -> std::result::Result<GroupStats, String> {
    GroupStats::from_summaries(
        doubles(n, "n")?.to_vec(),
        doubles(mean, "mean")?.to_vec(),
        doubles(ss, "ss")?.to_vec(),
    )
    .map_err(|e| e.to_string())
}

/// Pools summaries of parts of groups (Chan's formula): part `i`, of count
/// `n[i]`, mean `mean[i]` and sum of squares `ss[i]`, belongs to group
/// `group[i]` (1-based, of `n_groups`). Returns `list(n, mean, ss)` or
/// `list(error = <message>, kind = <kind>)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_pool_stats(n: Robj, mean: Robj, ss: Robj, group: Robj, n_groups: i32) -> List {
    let run = || -> std::result::Result<List, String> {
        let (n, mean, ss) = (
            doubles(&n, "n")?,
            doubles(&mean, "mean")?,
            doubles(&ss, "ss")?,
        );
        let group = group
            .as_integer_slice()
            .ok_or("group must be an integer vector")?;
        if [mean.len(), ss.len(), group.len()]
            .iter()
            .any(|&l| l != n.len())
        {
            return Err("n, mean, ss and group must have the same length".into());
        }
        let codes = group.iter().map(|&g| zero_based(g));
        let parts = codes
            .zip(n.iter().zip(mean).zip(ss))
            .map(|(k, ((&n, &m), &s))| (k, n, m, s));
        let pooled =
            GroupStats::pool(count(n_groups, "n_groups")?, parts).map_err(|e| e.to_string())?;
        stats_to_r(&pooled)
    };
    run().unwrap_or_else(data_failure)
}

/// Starts reading the CSV file at `path` (R feeds its bytes): refuses
/// anything but a regular file, which a read could wait on forever (a FIFO)
/// or never finish (`/dev/zero`). Returns `list(reader = <external
/// pointer>)` or `list(error = <message>, kind = <kind>)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_csv_reader(path: &str) -> List {
    let run = || -> std::result::Result<List, String> {
        let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
        if !meta.is_file() {
            return Err(if meta.is_dir() {
                "is a directory, not a CSV file".into()
            } else {
                "is not a regular file (a FIFO, device or socket?)".into()
            });
        }
        let reader: Robj = ExternalPtr::new(CsvReader::new()).into();
        List::from_names_and_values(["reader"], [reader]).map_err(|e| e.to_string())
    };
    run().unwrap_or_else(data_failure)
}

fn csv_reader(reader: &mut Robj) -> std::result::Result<&mut CsvReader, String> {
    let ptr: &mut ExternalPtr<CsvReader> = reader
        .try_into()
        .map_err(|_| "reader must come from hm_csv_reader()".to_string())?;
    ptr.try_addr_mut().map_err(|e| e.to_string())
}

fn strings(fields: &Fields) -> Robj {
    Strings::from_values(fields.iter()).into()
}

fn done(result: std::result::Result<List, String>) -> List {
    result.unwrap_or_else(data_failure)
}

/// Feeds `bytes` to the reader (NULL: none; an empty raw vector: the end of
/// the file), then parses what it can. Returns `list(ready = TRUE, header,
/// fields, lines, finished)` when it has the header (its names; NULL
/// after) or a chunk of `max_rows` records, or of the file's last ones: the
/// chosen response columns' fields (`hm_csv_select()`), each record's first
/// line, and whether the file is read; the fields at the 1-based positions
/// `numbers` as a double vector (NA: missing) when every one is a plain
/// decimal number, to spare R a string per field. Otherwise `list(ready =
/// FALSE, progress = <records parsed>)`: feed more bytes. Or `list(error =
/// <message naming the line>)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_csv_next(mut reader: Robj, bytes: Robj, max_rows: i32, numbers: Robj) -> List {
    done((|| {
        let reader = csv_reader(&mut reader)?;
        if !bytes.is_null() {
            reader.feed(bytes.as_raw_slice().ok_or("bytes must be a raw vector")?);
        }
        let before = reader.pending();
        let max_rows = count(max_rows, "max_rows")?.max(1);
        let Some(chunk) = reader.next_chunk(max_rows).map_err(|e| e.to_string())? else {
            let progress = (reader.pending() - before) as f64;
            return List::from_names_and_values(["ready", "progress"], [r!(false), r!(progress)])
                .map_err(|e| e.to_string());
        };
        let header: Robj = match &chunk.header {
            Some(names) => Strings::from_values(names).into(),
            None => ().into(),
        };
        let numbers = numbers
            .as_integer_slice()
            .ok_or("numbers must be an integer vector")?;
        let fields = List::from_values(chunk.fields.iter().enumerate().map(|(j, f)| {
            let plain = numbers
                .contains(&(j as i32 + 1))
                .then(|| f.plain_numbers())
                .flatten();
            match plain {
                Some(values) => {
                    let na = <f64 as CanBeNA>::na();
                    r!(values
                        .into_iter()
                        .map(|v| if v.is_nan() { na } else { v })
                        .collect::<Vec<f64>>())
                }
                None => strings(f),
            }
        }));
        List::from_names_and_values(
            ["ready", "header", "fields", "lines", "finished"],
            [
                r!(true),
                header,
                fields.into(),
                r!(chunk.lines),
                r!(chunk.finished),
            ],
        )
        .map_err(|e| e.to_string())
    })())
}

/// Chooses the reader's response columns and grouping columns (1-based
/// positions in the header), and what it accumulates per group: one
/// response per record (`variables` NULL) or that many variables. Returns
/// `list()` or `list(error = <message>, kind = <kind>)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_csv_select(mut reader: Robj, response: Robj, groups: Robj, variables: Robj) -> List {
    done((|| {
        let positions = |x: &Robj| -> std::result::Result<Vec<usize>, String> {
            let x = x
                .as_integer_slice()
                .ok_or("columns must be integer vectors")?;
            x.iter()
                .map(|&j| usize::try_from(j - 1).map_err(|_| "column positions start at 1".into()))
                .collect()
        };
        let (response, groups) = (positions(&response)?, positions(&groups)?);
        let variables = if variables.is_null() {
            None
        } else {
            let d = variables
                .as_integer()
                .ok_or("variables must be NULL or an integer")?;
            Some(count(d, "variables")?)
        };
        csv_reader(&mut reader)?
            .select(response, groups, variables)
            .map_err(|e| e.to_string())?;
        Ok(List::new(0))
    })())
}

/// Gives the reader the values of each record of its last chunk: its
/// response, or a records x variables matrix (NA: the record is dropped).
/// Returns `list()` or `list(error = <message>, kind = <kind>)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_csv_add(mut reader: Robj, values: Robj) -> List {
    done((|| {
        let values = values
            .as_real_slice()
            .ok_or("values must be a double vector or matrix")?;
        csv_reader(&mut reader)?
            .add(values)
            .map_err(|e| e.to_string())?;
        Ok(List::new(0))
    })())
}

/// The groups the reader met, in the order first met: `list(values =
/// <list of each grouping column's raw values>, n, line)` and, for
/// responses, `mean` and `ss`; `line` is the line of each group's first
/// record kept (NaN for a group met only in dropped records, whose n is
/// 0). Or `list(error = <message>, kind = <kind>)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_csv_groups(mut reader: Robj) -> List {
    done((|| {
        let (fields, stats, lines) = csv_reader(&mut reader)?.groups();
        let values: Robj = List::from_values(fields.iter().map(strings)).into();
        let list = match stats {
            GroupAccumulator::Responses(stats) => List::from_names_and_values(
                ["values", "n", "mean", "ss", "line"],
                [
                    values,
                    r!(stats.n()),
                    r!(stats.ybar()),
                    r!(stats.ss()),
                    r!(lines),
                ],
            ),
            GroupAccumulator::Variables(stats) => List::from_names_and_values(
                ["values", "n", "line"],
                [values, r!(stats.n()), r!(lines)],
            ),
        };
        list.map_err(|e| e.to_string())
    })())
}

/// A regression's statistics from the variables a reader accumulated per
/// group (its keys): variable `c` of the result is, on key `i`,
/// `coding[i, c]` times the records' variable `source[c]` (0: the constant
/// 1), and key `i` is pooled into group `into[i]` of `1..n_groups` (0:
/// left out). Returns `hm_lmm_stats()`'s list, or `list(error = <message>,
/// kind = <kind>)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_csv_products(
    mut reader: Robj,
    source: Robj,
    coding: Robj,
    into: Robj,
    n_groups: i32,
) -> List {
    done((|| {
        let (_, stats, _) = csv_reader(&mut reader)?.groups();
        let GroupAccumulator::Variables(parts) = stats else {
            return Err("the reader accumulated responses, not variables".into());
        };
        let coding = coding
            .as_real_slice()
            .ok_or("coding must be a double matrix")?;
        let stats = CrossStats::products(
            parts,
            &variables_from_r(source, "source")?,
            coding,
            &variables_from_r(into, "into")?,
            count(n_groups, "n_groups")?,
        )
        .map_err(|e| e.to_string())?;
        cross_stats_to_r(&stats)
    })())
}

fn real(list: &List, name: &str) -> std::result::Result<f64, String> {
    match list.dollar(name).ok().and_then(|v| v.as_real()) {
        Some(v) => Ok(v),
        None => Err(format!("prior${name} must be a number")),
    }
}

/// A prior on a standard deviation from R's list(family, <its parameters>).
fn sd_prior(x: Robj, what: &str) -> std::result::Result<SdPrior, String> {
    let list = List::try_from(x).map_err(|_| format!("{what} must be a list"))?;
    let value =
        |name: &str| real(&list, name).map_err(|_| format!("{what}${name} must be a number"));
    let family = list
        .dollar("family")
        .ok()
        .and_then(|f| f.as_str().map(str::to_string));
    Ok(match family.as_deref() {
        Some("gamma_precision") => SdPrior::GammaPrecision {
            shape: value("shape")?,
            rate: value("rate")?,
        },
        Some("half_normal") => SdPrior::HalfNormal {
            scale: value("scale")?,
        },
        Some("half_student_t") => SdPrior::HalfStudentT {
            df: value("df")?,
            scale: value("scale")?,
        },
        Some("exponential") => SdPrior::Exponential {
            rate: value("rate")?,
        },
        Some("uniform") => SdPrior::Uniform {
            upper: value("upper")?,
        },
        Some("gamma_variance") => SdPrior::GammaVariance {
            shape: value("shape")?,
            rate: value("rate")?,
        },
        _ => return Err(format!("{what}$family is not a known family")),
    })
}

/// The tree prior from R's list(mu0, tau0, levels, within, within_prior,
/// a0, b0, lambda, nu_max): `levels` one sd prior per level, top first;
/// `within_prior` that of sd_w with a common within-group variance.
fn tree_prior(prior: &List, depth: usize) -> std::result::Result<TreePrior, String> {
    let levels: Vec<SdPrior> = prior
        .dollar("levels")
        .ok()
        .and_then(|l| List::try_from(l).ok())
        .ok_or("prior$levels must be a list")?
        .values()
        .map(|p| sd_prior(p, "prior$levels[[l]]"))
        .collect::<std::result::Result<_, _>>()?;
    if levels.len() != depth {
        return Err("prior$levels needs one prior per level".into());
    }
    let kind = prior
        .dollar("within")
        .ok()
        .and_then(|w| w.as_str().map(str::to_string))
        .ok_or("prior$within must be a string")?;
    let within = match WithinKind::from_name(&kind).map_err(|e| e.to_string())? {
        WithinKind::Common => Within::Common {
            prior: sd_prior(
                prior.dollar("within_prior").map_err(|e| e.to_string())?,
                "prior$within_prior",
            )?,
        },
        WithinKind::Known => Within::Known,
        // sd_w0's prior: a family of its own, or Hoff's G(a0, b0) on sd_w0^2
        WithinKind::Group => Within::Group {
            centre: match prior.dollar("within_prior") {
                Ok(p) if !p.is_null() => sd_prior(p, "prior$within_prior")?,
                _ => SdPrior::GammaVariance {
                    shape: real(prior, "a0")?,
                    rate: real(prior, "b0")?,
                },
            },
            lambda: real(prior, "lambda")?,
            nu_max: real(prior, "nu_max")
                .ok()
                .filter(|v| v.fract() == 0.0 && (1.0..=1e7).contains(v))
                .ok_or("prior$nu_max must be a whole number from 1 to 1e7")?
                as usize,
        },
    };
    Ok(TreePrior {
        mu0: real(prior, "mu0")?,
        tau0: real(prior, "tau0")?,
        levels,
        within,
    })
}

/// The columns a model's draws report, in storage order: `list(role,
/// level, node, global)` with one entry per column (`level` and `node`
/// 1-based; `level` 0 for the root and the within-group model), for
/// `level_sizes` groups per level (top first) and the within-group model
/// `within` ("common", "known" or "group"). Or `list(error = <message>,
/// kind = <kind>)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_layout(level_sizes: Robj, within: &str) -> List {
    let run = || -> std::result::Result<List, Failure> {
        let sizes: Vec<usize> = level_sizes
            .as_integer_slice()
            .ok_or("level_sizes must be an integer vector")?
            .iter()
            .map(|&n| usize::try_from(n).map_err(|_| "level_sizes must be counts"))
            .collect::<std::result::Result<_, _>>()?;
        let layout = Layout::new(&sizes, WithinKind::from_name(within)?);
        let columns = layout.columns();
        let global = layout.width(false);
        List::from_names_and_values(
            ["role", "level", "node", "global"],
            [
                r!(columns.iter().map(|c| c.role.name()).collect::<Vec<_>>()),
                r!(columns.iter().map(|c| c.level as i32).collect::<Vec<_>>()),
                r!(columns
                    .iter()
                    .map(|c| c.node as i32 + 1)
                    .collect::<Vec<_>>()),
                r!((0..columns.len()).map(|j| j < global).collect::<Vec<_>>()),
            ],
        )
        .map_err(|e| e.to_string().into())
    };
    run().unwrap_or_else(Failure::into_list)
}

/// The names of the samplers that can move a model with `depth` grouping
/// levels and the within-group model `within`, the default first.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_samplers(depth: i32, within: &str) -> List {
    let run = || -> std::result::Result<List, Failure> {
        let depth = count(depth, "depth")?;
        let within = WithinKind::from_name(within)?;
        let names: Vec<&str> = SamplerKind::ALL
            .into_iter()
            .filter(|k| k.applies(depth, within))
            .map(SamplerKind::name)
            .collect();
        List::from_names_and_values(["samplers"], [r!(names)]).map_err(|e| e.to_string().into())
    };
    run().unwrap_or_else(Failure::into_list)
}

/// The rows of a double matrix from R (column-major), one vector each.
fn rows_of(matrix: Robj, name: &str) -> std::result::Result<Vec<Vec<f64>>, String> {
    let matrix =
        RMatrix::<f64>::try_from(matrix).map_err(|_| format!("{name} must be a double matrix"))?;
    let (rows, cols) = (matrix.nrows(), matrix.ncols());
    let values = matrix.data();
    Ok((0..rows)
        .map(|i| (0..cols).map(|j| values[j * rows + i]).collect())
        .collect())
}

/// What a glue call returns when the user interrupted it.
fn interrupted() -> List {
    List::from_names_and_values(["interrupted"], [r!(true)]).unwrap_or_default()
}

/// A model from R: each level's parent codes (`parents_from_r`), the last
/// level's statistics and the prior (`tree_prior`), in the data's units.
fn model_from_r(
    parents: &List,
    n: &Robj,
    ybar: &Robj,
    ss: &Robj,
    prior: &List,
) -> std::result::Result<(Vec<Vec<usize>>, GroupStats, TreePrior), Failure> {
    let stats = stats_from_r(n, ybar, ss).map_err(|message| Failure {
        kind: "data",
        message,
    })?;
    let parents = parents_from_r(parents)?;
    let prior = tree_prior(prior, parents.len())?;
    Ok((parents, stats, prior))
}

/// Each level's 1-based parent codes as 0-based indices (an index out of
/// range is left for `Tree::new` to refuse).
fn parents_from_r(parents: &List) -> std::result::Result<Vec<Vec<usize>>, String> {
    parents
        .values()
        .map(|level| {
            level
                .as_integer_slice()
                .ok_or_else(|| "parents must be a list of integer vectors".to_string())
                .map(|codes| codes.iter().map(|&g| zero_based(g)).collect())
        })
        .collect()
}

/// The log marginal likelihood of a model (`hm_sample`'s `parents`, `n`,
/// `ybar`, `ss`, `prior`, in the data's units): `row_weights` NULL or,
/// with known variances, each row's `1/se^2`; `sds` a draws x parameters
/// matrix of posterior draws of the sds the integral runs over (each
/// level's, then sd_w, or sd_w0 and every group's sd); `bridge` forces
/// bridge sampling. Returns `list(log_value, log_error, method, evaluations)`,
/// `list(error = <message>, kind = <kind>)` or `list(interrupted = TRUE)`.
/// @keywords internal
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn hm_marginal_likelihood(
    parents: List,
    n: Robj,
    ybar: Robj,
    ss: Robj,
    prior: List,
    row_weights: Robj,
    sds: Robj,
    bridge: bool,
    seed: f64,
) -> List {
    let run = || -> std::result::Result<List, Failure> {
        let (parents, stats, prior) = model_from_r(&parents, &n, &ybar, &ss, &prior)?;
        let weights = if row_weights.is_null() {
            None
        } else {
            Some(doubles(&row_weights, "row_weights")?)
        };
        let draws = rows_of(sds, "sds")?;
        let evidence = match log_marginal_likelihood_in_units(
            parents,
            &stats,
            &prior,
            weights,
            &draws,
            bridge,
            seed_from_double(seed)?,
            &mut user_interrupted,
        ) {
            Err(hiermod_core::Error::Interrupted) => return Ok(interrupted()),
            result => result?,
        };
        List::from_names_and_values(
            ["log_value", "log_error", "method", "evaluations"],
            [
                r!(evidence.log_value),
                r!(evidence.error),
                r!(evidence.method.name()),
                r!(evidence.evaluations as f64),
            ],
        )
        .map_err(|e| e.to_string().into())
    };
    run().unwrap_or_else(Failure::into_list)
}

/// The effects of level `level` (1-based) at nodes `nodes` (1-based) for
/// stored draws that kept only the global columns: `global` a draws x
/// columns matrix of them, `draw_ids` each row's index among the fit's
/// draws (its random stream, with `seed`); the model as in `hm_sample`, in
/// the data's units. Returns `list(effects = <draws x nodes matrix>)`,
/// `list(error = <message>, kind = <kind>)` or `list(interrupted = TRUE)`.
/// @keywords internal
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn hm_redraw_effects(
    parents: List,
    n: Robj,
    ybar: Robj,
    ss: Robj,
    prior: List,
    global: Robj,
    draw_ids: Robj,
    level: i32,
    nodes: Robj,
    seed: f64,
) -> List {
    let run = || -> std::result::Result<List, Failure> {
        let (parents, stats, prior) = model_from_r(&parents, &n, &ybar, &ss, &prior)?;
        let tree = Tree::new(parents, stats, prior)?;
        let draws = rows_of(global, "global")?;
        let ids = doubles(&draw_ids, "draw_ids")?;
        if ids.len() != draws.len() {
            return Err("draw_ids must give one index per draw".into());
        }
        let nodes = indices_from_r(&nodes, "nodes")?;
        let level = count(level, "level")?;
        let seed = seed_from_double(seed)?;
        let mut messages = Messages::default();
        let rows = draws.len();
        let mut out = vec![0.0; nodes.len()];
        let mut effects = RMatrix::<f64>::new(rows, nodes.len());
        let data = effects.data_mut();
        for (i, (row, &id)) in draws.iter().zip(ids).enumerate() {
            if i % 256 == 0 && user_interrupted() {
                return Ok(interrupted());
            }
            tree.redraw_effects(
                row,
                level,
                &nodes,
                [seed, id as u64],
                &mut messages,
                &mut out,
            )?;
            for (j, v) in out.iter().enumerate() {
                data[j * rows + i] = *v;
            }
        }
        List::from_names_and_values(["effects"], [effects.into_robj()])
            .map_err(|e| e.to_string().into())
    };
    run().unwrap_or_else(Failure::into_list)
}

/// The posterior means of the effects of level `level` (1-based) from
/// stored draws that kept only the global columns (`global`, draws x
/// columns), each draw's exact conditional mean averaged over the draws;
/// the model as in `hm_sample`, in the data's units. Returns
/// `list(means = <one per node>)`, `list(error = <message>, kind =
/// <kind>)` or `list(interrupted = TRUE)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_effect_means(
    parents: List,
    n: Robj,
    ybar: Robj,
    ss: Robj,
    prior: List,
    global: Robj,
    level: i32,
) -> List {
    let run = || -> std::result::Result<List, Failure> {
        let (parents, stats, prior) = model_from_r(&parents, &n, &ybar, &ss, &prior)?;
        let tree = Tree::new(parents, stats, prior)?;
        let draws = rows_of(global, "global")?;
        let level = count(level, "level")?;
        match tree.effect_means(
            draws.iter().map(Vec::as_slice),
            level,
            &mut user_interrupted,
        ) {
            Err(hiermod_core::Error::Interrupted) => Ok(interrupted()),
            result => List::from_names_and_values(["means"], [r!(result?)])
                .map_err(|e| e.to_string().into()),
        }
    };
    run().unwrap_or_else(Failure::into_list)
}

/// Sample a model of the family. `parents[[l]]` gives, for each group of
/// level l (top to bottom), the 1-based index of its parent in level l - 1
/// (all 1 for the first level); `n`, `ybar`, `ss` are the last level's
/// statistics (`hm_group_stats`); `prior` is a list (see `tree_prior`).
/// `column_names` names every reported value. Returns `list(draws = <one
/// coda mcmc matrix per chain>, inits = <chains x values>)`, or
/// `list(error = <message>, kind = <kind>)`, or `list(interrupted = TRUE)`.
/// @keywords internal
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn hm_sample(
    parents: List,
    n: Robj,
    ybar: Robj,
    ss: Robj,
    prior: List,
    sampler: &str,
    chains: i32,
    iter: i32,
    warmup: i32,
    thin: i32,
    seed: f64,
    threads: i32,
    keep_groups: bool,
    column_names: Robj,
    progress: Robj,
) -> List {
    // One closure so that every failure below becomes `list(error, kind)`.
    let run = || -> std::result::Result<List, Failure> {
        let (parents, stats, prior) = model_from_r(&parents, &n, &ybar, &ss, &prior)?;
        let run = Run::from_r(
            sampler,
            [chains, iter, warmup, thin, threads],
            seed,
            keep_groups,
            column_names,
            progress,
        )?;
        // Every model is sampled on the standardised response (see `Units`).
        let units = Units::of(&stats, &prior.within)?;
        let stats = units.standardise_stats(&stats, &prior.within)?;
        let prior = units.standardise_prior(&prior)?;
        run.sample(&InUnits::new(Tree::new(parents, stats, prior)?, units))
    };
    run().unwrap_or_else(Failure::into_list)
}

/// Asks Linux to back a large output buffer with huge pages where it can:
/// the workers' first writes to freshly allocated memory otherwise fault in
/// one 4 KB page at a time, which on this kind of virtual machine costs
/// more than the sampling (a 4 x 5000 x 103 schools fit spent 6 of its 18
/// ms there). A hint only: where it is refused nothing changes.
fn advise_huge_pages(buffer: &[f64]) {
    #[cfg(target_os = "linux")]
    {
        unsafe extern "C" {
            fn madvise(addr: *mut c_void, length: usize, advice: c_int) -> c_int;
        }
        const MADV_HUGEPAGE: c_int = 14;
        const HUGE_PAGE: usize = 2 << 20;
        let start = buffer.as_ptr() as usize;
        let end = start + std::mem::size_of_val(buffer);
        // the whole huge pages inside the buffer
        let (first, last) = (
            start.next_multiple_of(HUGE_PAGE),
            end / HUGE_PAGE * HUGE_PAGE,
        );
        if last > first {
            // SAFETY: the range lies inside memory R allocated for the
            // buffer; the advice changes how pages are backed, not their
            // contents.
            unsafe {
                madvise(first as *mut c_void, last - first, MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buffer;
}

/// What a run needs besides the model.
struct Run {
    settings: Settings,
    threads: usize,
    column_names: Robj,
    progress: Robj,
}

impl Run {
    /// A run from R's arguments: the sampler's name, the counts `[chains,
    /// iter, warmup, thin, threads]`, the seed, what to keep, the column
    /// names and the progress callback.
    fn from_r(
        sampler: &str,
        [chains, iter, warmup, thin, threads]: [i32; 5],
        seed: f64,
        keep_groups: bool,
        column_names: Robj,
        progress: Robj,
    ) -> std::result::Result<Self, Failure> {
        Ok(Self {
            settings: Settings {
                sampler: SamplerKind::from_name(sampler)?,
                chains: count(chains, "chains")?,
                iter: count(iter, "iter")?,
                warmup: count(warmup, "warmup")?,
                thin: count(thin, "thin")?,
                seed: seed_from_double(seed)?,
                keep_groups,
            },
            threads: count(threads, "threads")?,
            column_names,
            progress,
        })
    }

    fn sample<P: Posterior>(self, model: &P) -> std::result::Result<List, Failure> {
        let settings = self.settings;
        settings.output_len(model)?;
        let n_kept = settings.n_kept();
        let width = model.n_reported(settings.keep_groups);
        let all = model.n_reported(true);
        let names = self
            .column_names
            .as_string_vector()
            .filter(|names| names.len() == all)
            .ok_or("column_names must hold one name per parameter")?;

        // The R matrices are allocated here, on R's thread; the workers only
        // write into their memory.
        let mut draws: Vec<RMatrix<f64>> = (0..settings.chains)
            .map(|_| RMatrix::new(n_kept, width))
            .collect();
        let outputs: Vec<&mut [f64]> = draws.iter_mut().map(|m| m.data_mut()).collect();
        for out in &outputs {
            advise_huge_pages(out);
        }
        // `progress` is NULL or an R function of the sweeps done so far; it
        // runs here, on R's thread, between polls for an interrupt, and
        // returns TRUE when the user interrupted it (an interrupt inside
        // it would otherwise be spent on it). An error in it stops the
        // progress reports, not the run.
        let mut report = self.progress.as_function();
        let result = run_chains(model, &settings, self.threads, outputs, |done| {
            if let Some(f) = &report {
                match f.call(pairlist!(done as f64)) {
                    Ok(stop) if stop.as_bool() == Some(true) => return true,
                    Ok(_) => {}
                    Err(_) => report = None,
                }
            }
            user_interrupted()
        });
        let inits = match result {
            Ok(outputs) => outputs,
            Err(hiermod_core::Error::Interrupted) => {
                return Ok(interrupted());
            }
            Err(hiermod_core::Error::NonFinite {
                chain,
                iteration,
                column,
            }) => {
                let name = names.get(column).map_or("?", String::as_str);
                return Err(Failure {
                    kind: "numerical",
                    message: format!(
                        "the draws of {name} became infinite or NaN at iteration \
                         {iteration} of chain {}",
                        chain + 1
                    ),
                });
            }
            Err(e) => return Err(e.into()),
        };
        // Each matrix leaves as a finished coda::mcmc object: dressing it in R
        // would copy every chain's draws once more.
        let dimnames = List::from_values([NULL.into_robj(), r!(&names[..width])]);
        let last_kept = settings.warmup + 1 + (n_kept.max(1) - 1) * settings.thin;
        let mcpar = r!([
            (settings.warmup + 1) as f64,
            last_kept as f64,
            settings.thin as f64
        ]);
        for matrix in draws.iter_mut() {
            matrix.set_dimnames(dimnames.clone());
            matrix
                .set_attrib("mcpar", mcpar.clone())
                .and_then(|m| m.set_class(["mcmc"]))
                .map_err(|e| e.to_string())?;
        }
        let init_matrix = RMatrix::new_matrix(settings.chains, all, |c, j| inits[c].init[j]);
        List::from_names_and_values(
            ["draws", "inits"],
            [
                List::from_values(draws).into_robj(),
                init_matrix.into_robj(),
            ],
        )
        .map_err(|e| e.to_string().into())
    }
}

/// Means and quantiles of the columns `columns` (1-based) of the chains'
/// draw matrices (a list of equally sized double matrices), pooled over
/// chains. Returns a columns x (1 + length(probs)) matrix (mean, then the
/// quantiles), or `list(error = <message>, kind = <kind>)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_column_summaries(chains: List, columns: Robj, probs: Robj) -> Robj {
    match column_summaries_from_r(&chains, &columns, &probs) {
        Ok(m) => m.into_robj(),
        Err(message) => Failure::from(message).into_list().into_robj(),
    }
}

/// The chains' draw matrices, their number of rows, and the 0-based indices
/// of the columns asked for.
type ChainsAndColumns = (Vec<RMatrix<f64>>, usize, Vec<usize>);

/// The chains' draw matrices (a list of equally sized double matrices) and
/// the 0-based indices of the 1-based `columns`.
fn chains_and_columns(
    chains: &List,
    columns: &Robj,
) -> std::result::Result<ChainsAndColumns, String> {
    let matrices: Vec<RMatrix<f64>> = chains
        .values()
        .map(|m| RMatrix::<f64>::try_from(m).map_err(|e| e.to_string()))
        .collect::<std::result::Result<_, _>>()?;
    let first = matrices.first().ok_or("chains must not be empty")?;
    let (n_rows, n_cols) = (first.nrows(), first.ncols());
    if matrices
        .iter()
        .any(|m| m.nrows() != n_rows || m.ncols() != n_cols)
    {
        return Err("chains must have the same dimensions".into());
    }
    let columns: Vec<usize> = columns
        .as_integer_slice()
        .ok_or("columns must be an integer vector")?
        .iter()
        .map(|&j| usize::try_from(j - 1).ok().filter(|&j| j < n_cols))
        .collect::<Option<_>>()
        .ok_or("columns out of range")?;
    Ok((matrices, n_rows, columns))
}

fn column_summaries_from_r(
    chains: &List,
    columns: &Robj,
    probs: &Robj,
) -> std::result::Result<RMatrix<f64>, String> {
    let (matrices, n_rows, columns) = chains_and_columns(chains, columns)?;
    let probs = probs
        .as_real_slice()
        .ok_or("probs must be a double vector")?;
    if probs.iter().any(|p| !(0.0..=1.0).contains(p)) {
        return Err("probs must lie in [0, 1]".into());
    }
    let slices: Vec<&[f64]> = matrices.iter().map(|m| m.data()).collect();
    let rows = column_summaries(&slices, n_rows, &columns, probs);
    Ok(RMatrix::new_matrix(
        columns.len(),
        1 + probs.len(),
        |i, j| rows[i][j],
    ))
}

/// Convergence diagnostics of the columns `columns` (1-based) of the chains'
/// draw matrices, as the posterior package defines them: a columns x 5
/// matrix (sd, ess_mean, ess_bulk, ess_tail, rhat; NaN where posterior
/// gives NA), or `list(error = <message>, kind = <kind>)`. `normal_scores` is the table of
/// `hiermod_core::diagnostics`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_diagnostics(chains: List, columns: Robj, normal_scores: Robj) -> Robj {
    let run = || -> std::result::Result<RMatrix<f64>, String> {
        let (matrices, n_rows, columns) = chains_and_columns(&chains, &columns)?;
        let scores = normal_scores
            .as_real_slice()
            .ok_or("normal_scores must be a double vector")?;
        let slices: Vec<&[f64]> = matrices.iter().map(|m| m.data()).collect();
        let rows: Vec<hiermod_core::Diagnostics> = columns
            .iter()
            .map(|&j| diagnostics(&slices, n_rows, j, scores))
            .collect();
        Ok(RMatrix::new_matrix(columns.len(), 5, |i, j| {
            let d = &rows[i];
            [d.sd, d.ess_mean, d.ess_bulk, d.ess_tail, d.rhat][j]
        }))
    };
    match run() {
        Ok(m) => m.into_robj(),
        Err(message) => Failure::from(message).into_list().into_robj(),
    }
}

/// Per-group statistics of a regression's variables from R's
/// `list(n, mean, cross)`: counts, a d x K matrix of means and a d^2 x K
/// matrix of cross-products (each column a group's d x d).
fn cross_stats_from_r(stats: &List) -> std::result::Result<CrossStats, String> {
    let part = |name: &str| {
        stats
            .dollar(name)
            .ok()
            .and_then(|v| v.as_real_slice().map(<[f64]>::to_vec))
            .ok_or(format!("stats${name} must be a double vector"))
    };
    let n = part("n")?;
    let mean = part("mean")?;
    let d = if n.is_empty() {
        0
    } else {
        mean.len() / n.len()
    };
    CrossStats::from_parts(d, n, mean, part("cross")?).map_err(|e| e.to_string())
}

fn cross_stats_to_r(stats: &CrossStats) -> std::result::Result<List, String> {
    let (d, k) = (stats.n_variables(), stats.n_groups());
    let mean = RMatrix::new_matrix(d, k, |a, j| stats.mean_of(j)[a]);
    let cross = RMatrix::new_matrix(d * d, k, |a, j| stats.cross_of(j)[a]);
    List::from_names_and_values(["n", "mean", "cross"], [r!(stats.n()), r!(mean), r!(cross)])
        .map_err(|e| e.to_string())
}

/// The variables of a design from R: 0 the constant 1, v >= 1 variable v.
fn variables_from_r(x: Robj, name: &str) -> std::result::Result<Vec<Option<usize>>, String> {
    let codes = x
        .as_integer_slice()
        .ok_or(format!("{name} must be an integer vector"))?;
    Ok(codes
        .iter()
        .map(|&v| (v != 0).then(|| zero_based(v)))
        .collect())
}

/// A 1-based index from R, 0-based; below 1 (or NA, i32::MIN) it is past
/// any end, which the core rejects.
fn zero_based(i: i32) -> usize {
    i.checked_sub(1)
        .and_then(|j| usize::try_from(j).ok())
        .unwrap_or(usize::MAX)
}

/// 1-based indices from R (an integer vector named `name`), 0-based.
fn indices_from_r(x: &Robj, name: &str) -> std::result::Result<Vec<usize>, String> {
    let codes = x
        .as_integer_slice()
        .ok_or(format!("{name} must be an integer vector"))?;
    Ok(codes.iter().map(|&i| zero_based(i)).collect())
}

/// The per-group statistics of a regression's rows: variable 1 is `y`,
/// variable `v + 1` column `variables[2, v]` of `x` (when `variables[1, v]`
/// is 1) or of `z[[variables[1, v] - 1]]`; `leaf` each row's 1-based group
/// of `n_groups`. Returns `list(n, mean, cross)` (see
/// `cross_stats_from_r`) or `list(error, kind)`.
/// @keywords internal
/// @noRd
#[extendr]
fn hm_lmm_stats(y: Robj, x: Robj, z: List, variables: Robj, leaf: Robj, n_groups: i32) -> List {
    let run = || -> std::result::Result<List, String> {
        let y = doubles(&y, "y")?;
        let n = y.len();
        // borrowed, not copied: X and Z may be most of the memory a fit takes
        let matrix = |m: Robj, name: &str| -> std::result::Result<RMatrix<f64>, String> {
            RMatrix::<f64>::try_from(m).map_err(|_| format!("{name} must be a double matrix"))
        };
        let mut matrices = vec![matrix(x, "x")?];
        for m in z.values() {
            matrices.push(matrix(m, "z[[l]]")?);
        }
        let sources: Vec<&[f64]> = matrices.iter().map(|m| m.data()).collect();
        let pairs = variables
            .as_integer_slice()
            .ok_or("variables must be an integer matrix")?;
        let mut columns: Vec<&[f64]> = vec![y];
        for pair in pairs.chunks(2) {
            let source = usize::try_from(pair[0] - 1)
                .ok()
                .and_then(|s| sources.get(s))
                .ok_or("variables names a design that does not exist")?;
            let at = zero_based(pair[1]);
            if pair.len() < 2 || (at + 1) * n > source.len() {
                return Err("variables names a column that does not exist".into());
            }
            columns.push(&source[at * n..(at + 1) * n]);
        }
        let leaf = indices_from_r(&leaf, "leaf")?;
        let stats = CrossStats::from_columns(&columns, &leaf, count(n_groups, "n_groups")?)
            .map_err(|e| e.to_string())?;
        cross_stats_to_r(&stats)
    };
    run().unwrap_or_else(data_failure)
}

/// A linear mixed model from R: `stats`, the per-group statistics of its
/// variables (`hm_lmm_stats`'s list; one group per group of the last
/// level, or one of all rows); the variable of each column of X in `x`
/// and, per level of groups (top first), of each column of its
/// coefficients' design in `z` (a list; 0 is the constant 1, 1 the
/// response); each level's groups' 1-based parents in `parents` (a list of
/// integer vectors; the top level's are 1); and `prior`,
/// list(effect_mean, effect_sd (Inf: flat), levels (per level list(sds =
/// a list of sd priors, lkj = NULL or a number)), sigma (an sd prior)).
fn lmm_from_r(
    stats: &List,
    x: &Robj,
    z: &List,
    parents: &List,
    prior: &List,
) -> std::result::Result<Lmm, Failure> {
    let stats = cross_stats_from_r(stats)?;
    let x = variables_from_r(x.clone(), "x")?;
    let z: Vec<Vec<Option<usize>>> = z
        .values()
        .map(|v| variables_from_r(v, "z[[l]]"))
        .collect::<std::result::Result<_, _>>()?;
    let parents = parents_from_r(parents)?;
    if parents.len() != z.len() {
        return Err("z and parents must have one element per level".into());
    }
    let data = LmmData {
        stats: &stats,
        x: &x,
        levels: z
            .iter()
            .zip(&parents)
            .map(|(z, parent)| LmmLevel { z, parent })
            .collect(),
    };
    Ok(Lmm::new(data, lmm_prior_from_r(prior)?)?)
}

/// The priors of a regression from R: `list(effect_mean, effect_sd,
/// levels = list(list(sds, lkj), ...), sigma)`.
fn lmm_prior_from_r(prior: &List) -> std::result::Result<LmmPrior, String> {
    let means = doubles_in(prior, "effect_mean")?;
    let sds = doubles_in(prior, "effect_sd")?;
    if means.len() != sds.len() {
        return Err("prior$effect_mean and prior$effect_sd must have one value per effect".into());
    }
    let effects = means
        .iter()
        .zip(&sds)
        .map(|(&mean, &sd)| EffectPrior { mean, sd })
        .collect();
    let levels = prior
        .dollar("levels")
        .ok()
        .and_then(|l| List::try_from(l).ok())
        .ok_or("prior$levels must be a list")?
        .values()
        .map(|level| -> std::result::Result<LevelPrior, String> {
            let level = List::try_from(level).map_err(|_| "prior$levels[[l]] must be a list")?;
            let sds = level
                .dollar("sds")
                .ok()
                .and_then(|l| List::try_from(l).ok())
                .ok_or("prior$levels[[l]]$sds must be a list")?
                .values()
                .map(|p| sd_prior(p, "prior$levels[[l]]$sds[[k]]"))
                .collect::<std::result::Result<_, _>>()?;
            let lkj = match level.dollar("lkj") {
                Ok(v) if !v.is_null() => Some(
                    v.as_real()
                        .ok_or("prior$levels[[l]]$lkj must be NULL or a number")?,
                ),
                _ => None,
            };
            Ok(LevelPrior { sds, lkj })
        })
        .collect::<std::result::Result<_, _>>()?;
    let sigma = sd_prior(
        prior
            .dollar("sigma")
            .map_err(|_| "prior$sigma is missing")?,
        "prior$sigma",
    )?;
    Ok(LmmPrior {
        effects,
        levels,
        sigma,
    })
}

fn doubles_in(list: &List, name: &str) -> std::result::Result<Vec<f64>, String> {
    list.dollar(name)
        .ok()
        .and_then(|v| v.as_real_slice().map(<[f64]>::to_vec))
        .ok_or(format!("prior${name} must be a double vector"))
}

/// Samples a linear mixed model (`lmm_from_r`'s arguments; the rest as
/// `hm_sample`'s). Returns what `hm_sample` returns.
/// @keywords internal
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn hm_sample_lmm(
    stats: List,
    x: Robj,
    z: List,
    parents: List,
    prior: List,
    sampler: &str,
    chains: i32,
    iter: i32,
    warmup: i32,
    thin: i32,
    seed: f64,
    threads: i32,
    keep_groups: bool,
    column_names: Robj,
    progress: Robj,
) -> List {
    let run = || -> std::result::Result<List, Failure> {
        let model = lmm_from_r(&stats, &x, &z, &parents, &prior)?;
        let run = Run::from_r(
            sampler,
            [chains, iter, warmup, thin, threads],
            seed,
            keep_groups,
            column_names,
            progress,
        )?;
        run.sample(&model)
    };
    run().unwrap_or_else(Failure::into_list)
}

/// A crossed model from `hm_sample_crossed`'s arguments of the same names.
fn crossed_from_r(
    columns: &List,
    x: &Robj,
    z: &List,
    groups: &List,
    parents: &List,
    prior: &List,
) -> std::result::Result<Crossed, Failure> {
    let values: Vec<Robj> = columns.values().collect();
    let columns: Vec<&[f64]> = values
        .iter()
        .map(|c| doubles(c, "columns[[v]]"))
        .collect::<std::result::Result<_, _>>()?;
    let x = variables_from_r(x.clone(), "x")?;
    let z: Vec<Vec<Option<usize>>> = z
        .values()
        .map(|v| variables_from_r(v, "z[[l]]"))
        .collect::<std::result::Result<_, _>>()?;
    let groups: Vec<Vec<usize>> = groups
        .values()
        .map(|g| indices_from_r(&g, "groups[[l]]"))
        .collect::<std::result::Result<_, _>>()?;
    let parents: Vec<Vec<usize>> = parents
        .values()
        .map(|p| indices_from_r(&p, "parents[[l]]"))
        .collect::<std::result::Result<_, _>>()?;
    if groups.len() != z.len() || parents.len() != z.len() || z.is_empty() {
        return Err("z, groups and parents must have one element per level".into());
    }
    // a level's groups: an index past the end (NA, below 1) fails in the core
    let n_groups: Vec<usize> = groups
        .iter()
        .map(|g| {
            g.iter()
                .copied()
                .filter(|&g| g != usize::MAX)
                .max()
                .map_or(0, |g| g + 1)
        })
        .collect();
    // a factor's top level has no parents (the root, 0)
    let tops: Vec<Vec<usize>> = parents
        .iter()
        .zip(&n_groups)
        .map(|(p, &n)| if p.is_empty() { vec![0; n] } else { Vec::new() })
        .collect();
    let mut factors: Vec<CrossedFactor> = Vec::new();
    for l in 0..z.len() {
        let nested = !parents[l].is_empty();
        let parent = if nested { &parents[l] } else { &tops[l] };
        let level = LmmLevel { z: &z[l], parent };
        match factors.last_mut() {
            Some(factor) if nested => factor.levels.push(level),
            None if nested => return Err("the first level must begin a factor".into()),
            _ => factors.push(CrossedFactor {
                levels: vec![level],
                group: &groups[l],
                n_groups: n_groups[l],
            }),
        }
        if let Some(factor) = factors.last_mut() {
            factor.group = &groups[l];
            factor.n_groups = n_groups[l];
        }
    }
    let data = CrossedData {
        columns: &columns,
        x: &x,
        factors,
    };
    Ok(Crossed::new(data, lmm_prior_from_r(prior)?)?)
}

/// Samples a regression on crossed grouping factors: `columns` the
/// model's variables (double vectors, one value per row, the response
/// first), `x` and `z[[l]]` as for `hm_sample_lmm`, `groups[[l]]` each
/// row's 1-based group of level l (of `max(groups[[l]])`), `parents[[l]]`
/// empty where level l begins a factor, else each of its groups' 1-based
/// parent in level l - 1 (the factor's levels nested, top first), `prior`
/// as `lmm_from_r` reads it; the rest as `hm_sample`'s. Returns what
/// `hm_sample` returns.
/// @keywords internal
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn hm_sample_crossed(
    columns: List,
    x: Robj,
    z: List,
    groups: List,
    parents: List,
    prior: List,
    sampler: &str,
    chains: i32,
    iter: i32,
    warmup: i32,
    thin: i32,
    seed: f64,
    threads: i32,
    keep_groups: bool,
    column_names: Robj,
    progress: Robj,
) -> List {
    let run = || -> std::result::Result<List, Failure> {
        let model = crossed_from_r(&columns, &x, &z, &groups, &parents, &prior)?;
        let run = Run::from_r(
            sampler,
            [chains, iter, warmup, thin, threads],
            seed,
            keep_groups,
            column_names,
            progress,
        )?;
        run.sample(&model)
    };
    run().unwrap_or_else(Failure::into_list)
}

/// Points, one vector per row of a matrix.
type Rows = Vec<Vec<f64>>;

/// `density` at each element of `sigma` with, per level, the rows of
/// `levels[[l]]$sds` (one column per coefficient) and
/// `levels[[l]]$correlations` (one column per pair); NaN where it is None.
/// Returns `list(value)`.
fn log_densities_from_r(
    sigma: &Robj,
    levels: &List,
    density: impl Fn(f64, &[(Vec<f64>, Vec<f64>)]) -> Option<f64>,
) -> std::result::Result<List, Failure> {
    let sigma = doubles(sigma, "sigma")?;
    let points: Vec<(Rows, Rows)> = levels
        .values()
        .map(|level| -> std::result::Result<_, String> {
            let level = List::try_from(level).map_err(|_| "levels[[l]] must be a list")?;
            let matrix = |name: &str| {
                level
                    .dollar(name)
                    .map_err(|_| format!("levels[[l]]${name} is missing"))
                    .and_then(|m| rows_of(m, name))
            };
            Ok((matrix("sds")?, matrix("correlations")?))
        })
        .collect::<std::result::Result<_, _>>()?;
    if points
        .iter()
        .any(|(s, c)| s.len() != sigma.len() || c.len() != sigma.len())
    {
        return Err("every level needs one row of sds and correlations per value of sigma".into());
    }
    let values: Vec<f64> = sigma
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let at: Vec<(Vec<f64>, Vec<f64>)> = points
                .iter()
                .map(|(sds, cors)| (sds[i].clone(), cors[i].clone()))
                .collect();
            density(s, &at).unwrap_or(f64::NAN)
        })
        .collect();
    List::from_names_and_values(["value"], [r!(values)]).map_err(|e| e.to_string().into())
}

/// The log density of the data of a linear mixed model (`lmm_from_r`'s
/// arguments) given its variance parameters, every location integrated
/// out, at the points `log_densities_from_r` reads from `sigma` and
/// `levels`; with the variance parameters' priors (on the sampler's
/// coordinates: log precisions and atanh of partial correlations) if
/// `with_prior`. NaN where the point is invalid. Returns `list(value)` or
/// `list(error, kind)`.
/// @keywords internal
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn hm_lmm_log_density(
    stats: List,
    x: Robj,
    z: List,
    parents: List,
    prior: List,
    sigma: Robj,
    levels: List,
    with_prior: bool,
) -> List {
    let run = || -> std::result::Result<List, Failure> {
        let model = lmm_from_r(&stats, &x, &z, &parents, &prior)?;
        log_densities_from_r(&sigma, &levels, |s, at| {
            model.log_density_at(s, at, with_prior)
        })
    };
    run().unwrap_or_else(Failure::into_list)
}

/// As `hm_lmm_log_density`, for crossed grouping factors
/// (`hm_sample_crossed`'s arguments of the same names), a row of sds and
/// correlations per level: NaN also where the locations are too many to
/// factor densely.
/// @keywords internal
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn hm_crossed_log_density(
    columns: List,
    x: Robj,
    z: List,
    groups: List,
    parents: List,
    prior: List,
    sigma: Robj,
    levels: List,
    with_prior: bool,
) -> List {
    let run = || -> std::result::Result<List, Failure> {
        let model = crossed_from_r(&columns, &x, &z, &groups, &parents, &prior)?;
        log_densities_from_r(&sigma, &levels, |s, at| {
            model.log_density_at(s, at, with_prior)
        })
    };
    run().unwrap_or_else(Failure::into_list)
}

extendr_module! {
    mod hiermod;
    fn hm_group_stats;
    fn hm_pool_stats;
    fn hm_csv_reader;
    fn hm_csv_next;
    fn hm_csv_select;
    fn hm_csv_add;
    fn hm_csv_groups;
    fn hm_csv_products;
    fn hm_layout;
    fn hm_samplers;
    fn hm_sample;
    fn hm_lmm_stats;
    fn hm_sample_lmm;
    fn hm_sample_crossed;
    fn hm_lmm_log_density;
    fn hm_crossed_log_density;
    fn hm_marginal_likelihood;
    fn hm_redraw_effects;
    fn hm_effect_means;
    fn hm_column_summaries;
    fn hm_diagnostics;
}
