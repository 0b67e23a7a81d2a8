//! `cargo xtask fuzz [--seconds N] [--target NAME] [--seed S]`: a small stable-toolchain
//! fuzzer for the entry points in `fuzz/src/lib.rs` (the cargo-fuzz targets need nightly,
//! which this project's machines do not have).
//!
//! Seeds are the committed BPF objects (`crates/*/testdata/**/*.bpf.o`) and their `.BTF` /
//! `.BTF.ext` sections; each execution applies a few random mutations (bit flips, interesting
//! bytes and 32-bit words, truncation, chunk duplication and deletion, splicing two seeds) and
//! runs the target in-process under `catch_unwind`. Panicking inputs are written to
//! `target/fuzz-crashes/` and make the command fail; inputs slower than a second are saved
//! there too (`*-slow-*.bin`) and counted, without failing. With `OXBPF_FUZZ_TRACE=1` each
//! input is written to `<target>-current.bin` before it runs, to catch what aborts the process.
//! Coverage-guided it is not: it is a CI-able smoke test that the parsers return errors rather
//! than panic on damaged real objects.

#[path = "../../fuzz/src/lib.rs"]
mod targets;

use object::{Object, ObjectSection};
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: deterministic for a given seed, good enough for mutation choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING_U32: [u32; 10] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];
const MAX_LEN: usize = 1 << 20;

/// Applies 1..=8 random mutations to `data` (splicing from `other`).
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..1 + rng.below(8) {
        let len = data.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = [0, 0xff, 0x7f, 0x80, 1][rng.below(5)];
            }
            2 if len >= 4 => {
                let i = rng.below(len - 3) & !3;
                let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
                data[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            3 if len > 0 => data.truncate(rng.below(len)),
            4 if len > 0 && len < MAX_LEN / 2 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let chunk = data[a..b].to_vec();
                let at = rng.below(len);
                data.splice(at..at, chunk);
            }
            5 if len > 1 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                data.drain(a..b);
            }
            6 if !other.is_empty() && len > 0 => {
                let a = rng.below(len);
                let b = rng.below(other.len());
                data.truncate(a);
                data.extend_from_slice(&other[b..other.len().min(b + 4096)]);
            }
            _ if len >= 4 => {
                // Small arithmetic on a word: off-by-one lengths and offsets.
                let i = rng.below(len - 3) & !3;
                let w = u32::from_le_bytes(data[i..i + 4].try_into().expect("4 bytes"));
                let d = [1u32, 4, 8, 12, 16][rng.below(5)];
                let w = if rng.below(2) == 0 {
                    w.wrapping_add(d)
                } else {
                    w.wrapping_sub(d)
                };
                data[i..i + 4].copy_from_slice(&w.to_le_bytes());
            }
            _ => data.push(rng.next() as u8),
        }
    }
}

fn objects(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.to_string_lossy().ends_with(".bpf.o") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for c in fs::read_dir(root.join("crates"))
        .into_iter()
        .flatten()
        .flatten()
    {
        walk(&c.path().join("testdata"), &mut out);
    }
    out.sort();
    out
}

/// Seed corpus per target, from the committed objects.
fn seeds(root: &Path, target: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for p in objects(root) {
        let Ok(raw) = fs::read(&p) else { continue };
        let section = |name: &str| -> Option<Vec<u8>> {
            let f = object::File::parse(raw.as_slice()).ok()?;
            Some(f.section_by_name(name)?.data().ok()?.to_vec())
        };
        match target {
            "elf_spec" => out.push(raw.clone()),
            "btf_parse" => out.extend(section(".BTF")),
            "btf_ext" => {
                if let (Some(b), Some(e)) = (section(".BTF"), section(".BTF.ext")) {
                    if b.len() <= u16::MAX as usize {
                        let mut v = (b.len() as u16).to_le_bytes().to_vec();
                        v.extend(b);
                        v.extend(e);
                        out.push(v);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Runs target `name` once on the bytes of `file`, panics included (to debug a crash).
pub fn replay(name: &str, file: &Path) -> Result<(), String> {
    let (_, f) = targets::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| format!("no target {name:?}"))?;
    let data = fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let t0 = Instant::now();
    // Same stack as a test thread (2 MiB), smaller than the main thread's 8 MiB.
    let f = *f;
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || f(&data))
        .and_then(|h| {
            h.join()
                .map_err(|_| std::io::Error::other("target panicked"))
        })
        .map_err(|e| e.to_string())?;
    let data = fs::read(file).unwrap_or_default();
    println!(
        "{name}: {} bytes ran in {:?} without panic",
        data.len(),
        t0.elapsed()
    );
    Ok(())
}

/// Options of one run.
pub struct FuzzOpts {
    /// Wall-clock budget, split evenly between targets.
    pub seconds: u64,
    /// Only this target.
    pub target: Option<String>,
    /// PRNG seed.
    pub seed: u64,
    /// Where crashing inputs go.
    pub crash_dir: PathBuf,
}

/// Runs the fuzzer; `Err` lists crashing inputs.
pub fn run(root: &Path, opts: &FuzzOpts) -> Result<String, String> {
    let chosen: Vec<_> = targets::TARGETS
        .iter()
        .filter(|(n, _)| opts.target.as_deref().is_none_or(|t| t == *n))
        .collect();
    if chosen.is_empty() {
        let names: Vec<_> = targets::TARGETS.iter().map(|t| t.0).collect();
        return Err(format!("no target {:?}; targets: {names:?}", opts.target));
    }
    let budget = Duration::from_secs(opts.seconds.max(1)) / chosen.len() as u32;
    let prev_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut crashes = Vec::new();
    let mut report = String::new();
    let trace = std::env::var_os("OXBPF_FUZZ_TRACE").is_some();
    for (name, f) in chosen {
        let corpus = seeds(root, name);
        if corpus.is_empty() {
            crashes.push(format!("{name}: no seeds found under crates/*/testdata"));
            continue;
        }
        let mut rng =
            Rng((opts.seed ^ (name.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
        let start = Instant::now();
        let mut execs = 0u64;
        let mut slow = 0u64;
        let mut bytes = 0u64;
        // Every seed once unmutated, then mutated inputs until the budget is spent.
        let mut queue: Vec<Vec<u8>> = corpus.clone();
        while start.elapsed() < budget || !queue.is_empty() {
            let input = queue.pop().unwrap_or_else(|| {
                let mut d = corpus[rng.below(corpus.len())].clone();
                let other = &corpus[rng.below(corpus.len())];
                mutate(&mut rng, &mut d, other);
                d
            });
            if trace {
                // Aborts (stack overflow) cannot be caught: keep the input that was running.
                let _ = fs::create_dir_all(&opts.crash_dir);
                let _ = fs::write(opts.crash_dir.join(format!("{name}-current.bin")), &input);
            }
            bytes += input.len() as u64;
            let t0 = Instant::now();
            let res = catch_unwind(AssertUnwindSafe(|| f(&input)));
            if t0.elapsed() > Duration::from_secs(1) {
                slow += 1;
                let _ = fs::create_dir_all(&opts.crash_dir);
                let _ = fs::write(
                    opts.crash_dir.join(format!("{name}-slow-{execs}.bin")),
                    &input,
                );
            }
            execs += 1;
            if let Err(p) = res {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let _ = fs::create_dir_all(&opts.crash_dir);
                let path = opts.crash_dir.join(format!("{name}-{execs}.bin"));
                let _ = fs::write(&path, &input);
                crashes.push(format!(
                    "{name}: panic {msg:?}, input saved to {}",
                    path.display()
                ));
                if crashes.len() >= 10 {
                    break;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        report += &format!(
            "{name}: {execs} executions in {secs:.1}s ({:.0}/s, mean input {} bytes) from {} seeds, {slow} slower than 1s\n",
            execs as f64 / secs.max(1e-9),
            bytes / execs.max(1),
            corpus.len()
        );
    }
    std::panic::set_hook(prev_hook);
    if crashes.is_empty() {
        Ok(report)
    } else {
        Err(format!(
            "{report}{} crash(es):\n  {}",
            crashes.len(),
            crashes.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_is_deterministic_and_bounded() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        let (mut x, mut y) = (vec![1u8; 64], vec![1u8; 64]);
        for _ in 0..1000 {
            mutate(&mut a, &mut x, &[9; 32]);
            mutate(&mut b, &mut y, &[9; 32]);
        }
        assert_eq!(x, y);
        assert!(x.len() <= MAX_LEN);
    }

    /// A short run of every target: the CI smoke test.
    #[test]
    fn short_run_finds_no_panic() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let opts = FuzzOpts {
            seconds: 6,
            target: None,
            seed: 0x0bad_5eed,
            crash_dir: std::env::temp_dir().join(format!("oxbpf-fuzz-{}", std::process::id())),
        };
        match run(&root, &opts) {
            Ok(r) => eprintln!("{r}"),
            Err(e) => panic!("{e}"),
        }
    }
}
