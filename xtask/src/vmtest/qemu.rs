//! Boots the kernel and initramfs under `qemu-system-x86_64` (TCG: no KVM needed), streams the
//! console, and kills qemu after the time limit.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What to boot and where the two serial ports go.
pub struct Vm<'a> {
    /// Kernel image.
    pub kernel: &'a Path,
    /// Initramfs.
    pub initrd: &'a Path,
    /// ttyS1: test output, parsed by the host.
    pub results: &'a Path,
    /// ttyS0 (kernel console) is copied here while it is echoed to the terminal.
    pub console: &'a Path,
    /// Guest memory in MiB.
    pub mem_mib: u32,
    /// Guest CPUs.
    pub smp: u32,
    /// qemu is killed after this.
    pub timeout: Duration,
}

/// How the run went.
pub struct Run {
    /// From spawning qemu to its exit.
    pub total: Duration,
    /// From spawning qemu to `/init`'s "booted" line.
    pub booted_after: Option<Duration>,
    /// qemu was killed at the time limit.
    pub timed_out: bool,
}

/// Runs the VM to completion (or the time limit).
pub fn boot(vm: &Vm) -> Result<Run, String> {
    let results = vm.results.to_str().ok_or("results path is not UTF-8")?;
    if results.contains(',') {
        return Err(format!("qemu cannot take a path with ',': {results}"));
    }
    let _ = std::fs::remove_file(vm.results);
    let mut console =
        File::create(vm.console).map_err(|e| format!("{}: {e}", vm.console.display()))?;
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-nodefaults", "-display", "none", "-no-reboot"])
        .args(["-accel", "tcg", "-cpu", "max"])
        .args(["-m", &vm.mem_mib.to_string(), "-smp", &vm.smp.to_string()])
        .arg("-kernel")
        .arg(vm.kernel)
        .arg("-initrd")
        .arg(vm.initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .args(["-serial", "stdio", "-serial", &format!("file:{results}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("running qemu-system-x86_64: {e}"))?;
    let stdout = child.stdout.take().ok_or("qemu stdout")?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            if tx.send(std::mem::take(&mut line)).is_err() {
                break;
            }
        }
    });
    let mut booted_after = None;
    let mut timed_out = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(raw) => {
                let _ = console.write_all(&raw);
                let text = String::from_utf8_lossy(&raw);
                let text = text.trim_end();
                if booted_after.is_none() && text.contains("vm-test: booted") {
                    booted_after = Some(start.elapsed());
                }
                println!("vm| {text}");
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // stdout closed: qemu is exiting; poll for its status below.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Some(status) = child.try_wait().map_err(|e| format!("qemu: {e}"))? {
            if !status.success() {
                eprintln!("vm-test: qemu exited with {status}");
            }
            break;
        }
        if start.elapsed() > vm.timeout {
            let _ = child.kill();
            let _ = child.wait();
            timed_out = true;
            break;
        }
    }
    // Drain what the reader thread still holds.
    while let Ok(raw) = rx.try_recv() {
        let _ = console.write_all(&raw);
        println!("vm| {}", String::from_utf8_lossy(&raw).trim_end());
    }
    Ok(Run {
        total: start.elapsed(),
        booted_after,
        timed_out,
    })
}
