//! Plumbing for the BPF token test: passing fds over a unix socket (`SCM_RIGHTS`), entering a
//! user namespace as an unprivileged user, and configuring a bpffs with the new mount API.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn check(r: libc::c_long, what: &str) -> io::Result<libc::c_long> {
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(r)
}

/// Calls `f` with a one-byte message header that has room for one `SCM_RIGHTS` fd.
fn with_msg<R>(f: impl FnOnce(&mut libc::msghdr) -> R) -> R {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut buf = vec![0u8; space];
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    f(&mut msg)
}

/// Sends `fd` over the unix socket `sock`.
pub fn send_fd(sock: RawFd, fd: RawFd) -> io::Result<()> {
    with_msg(|msg| {
        // SAFETY: msg_control holds room for one cmsg with one fd.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        }
        // SAFETY: msg points at live buffers.
        check(unsafe { libc::sendmsg(sock, msg, 0) } as _, "sendmsg").map(drop)
    })
}

/// Receives one fd sent by [`send_fd`] (not close-on-exec, so a child program inherits it).
pub fn recv_fd(sock: RawFd) -> io::Result<OwnedFd> {
    with_msg(|msg| {
        // SAFETY: msg points at live buffers.
        let n = check(unsafe { libc::recvmsg(sock, msg, 0) } as _, "recvmsg")?;
        // SAFETY: the kernel filled msg_control; CMSG_FIRSTHDR checks its length.
        let c = unsafe { libc::CMSG_FIRSTHDR(msg) };
        if n == 0 || c.is_null() || unsafe { (*c).cmsg_type } != libc::SCM_RIGHTS {
            return Err(io::Error::other("peer sent no fd"));
        }
        // SAFETY: an SCM_RIGHTS cmsg carries a new fd we now own.
        Ok(unsafe { OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast())) })
    })
}

/// A connected `AF_UNIX` stream socket pair.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    check(
        unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) } as _,
        "socketpair",
    )?;
    // SAFETY: both are new fds we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Drops to uid/gid 65534 (no capabilities left), then enters a new user and mount namespace
/// where that user is root.
pub fn enter_userns_as_nobody() -> io::Result<()> {
    // SAFETY: plain credential syscalls on this (single-threaded) child.
    unsafe {
        check(libc::setgroups(0, std::ptr::null()) as _, "setgroups")?;
        check(libc::setresgid(65534, 65534, 65534) as _, "setresgid")?;
        check(libc::setresuid(65534, 65534, 65534) as _, "setresuid")?;
        // The uid change made the process non-dumpable, which hands its /proc files to root.
        check(
            libc::prctl(libc::PR_SET_DUMPABLE, 1) as _,
            "PR_SET_DUMPABLE",
        )?;
        check(
            libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) as _,
            "unshare(user+mount)",
        )?;
    }
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", "0 65534 1")?;
    std::fs::write("/proc/self/gid_map", "0 65534 1")?;
    Ok(())
}

/// `fsopen(name, 0)`: a new, unconfigured filesystem context.
pub fn fsopen(name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: name is NUL-terminated.
    let fd = check(
        unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), 0) },
        "fsopen",
    )?;
    // SAFETY: new fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;

/// Sets string option `key` of filesystem context `fs`.
pub fn fsconfig_string(fs: &OwnedFd, key: &CStr, value: &CStr) -> io::Result<()> {
    // SAFETY: key and value are NUL-terminated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    check(r, &format!("fsconfig {key:?}={value:?}")).map(drop)
}

/// Creates the superblock of `fs` and returns a detached mount of it (`fsmount`).
pub fn create_and_mount(fs: &OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: no pointers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<u8>(),
            std::ptr::null::<u8>(),
            0,
        )
    };
    check(r, "fsconfig create")?;
    // SAFETY: no pointers.
    let fd = check(
        unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), 0, 0) },
        "fsmount",
    )?;
    // SAFETY: new fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// True if this kernel knows `BPF_TOKEN_CREATE`: with a bad bpffs fd it answers `EBADF`; a
/// kernel without tokens does not know the command (`EINVAL`). Says so when it does not.
pub fn kernel_has_tokens() -> bool {
    let mut probe = oxbpf::sys::attr::TokenCreateAttr {
        flags: 0,
        bpffs_fd: u32::MAX,
    };
    // SAFETY: the BPF_TOKEN_CREATE layout, no pointers.
    match unsafe { oxbpf::sys::bpf(oxbpf::sys::Cmd::TokenCreate, &mut probe) } {
        Err(e) if e.errno == libc::EBADF => true,
        other => {
            eprintln!("SKIPPED: this kernel has no BPF tokens (they need Linux >= 6.9; BPF_TOKEN_CREATE answered {other:?})");
            false
        }
    }
}

/// Forks a child that drops to nobody in a new user and mount namespace, makes a bpffs
/// context there and receives it back mounted with every `delegate_*` option set to `any` by
/// this (privileged) process; then runs `child` with the mount's fd. Returns the child's exit
/// status (0: `child` returned; 1: it panicked).
///
/// Call only from a single-threaded process (`unshare(CLONE_NEWUSER)` needs one).
pub fn in_delegated_userns(child: impl FnOnce(OwnedFd)) -> i32 {
    let (parent_sock, child_sock) = socketpair().expect("socketpair");
    // SAFETY: the caller is single-threaded.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        drop(parent_sock);
        let run = std::panic::AssertUnwindSafe(|| {
            enter_userns_as_nobody().expect("enter a user namespace as nobody");
            let fs = fsopen(c"bpf").expect("fsopen(bpf) in the user namespace");
            send_fd(child_sock.as_raw_fd(), fs.as_raw_fd()).expect("send the bpffs context");
            let mnt = recv_fd(child_sock.as_raw_fd()).expect("delegated bpffs from the parent");
            child(mnt)
        });
        std::process::exit(match std::panic::catch_unwind(run) {
            Ok(()) => 0,
            Err(_) => 1,
        });
    }
    drop(child_sock);
    let fs = recv_fd(parent_sock.as_raw_fd()).expect("bpffs context from the child");
    for key in [
        c"delegate_cmds",
        c"delegate_maps",
        c"delegate_progs",
        c"delegate_attachs",
    ] {
        fsconfig_string(&fs, key, c"any").expect("delegate");
    }
    let mnt = create_and_mount(&fs).expect("mount the delegated bpffs");
    send_fd(parent_sock.as_raw_fd(), mnt.as_raw_fd()).expect("send the mount");
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    }
}

/// True if root; otherwise says the test is skipped (a failure under `OXBPF_REQUIRE_KERNEL=1`).
pub fn root_or_skip(what: &str) -> bool {
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let strict = std::env::var("OXBPF_REQUIRE_KERNEL").is_ok_and(|v| v == "1");
    assert!(!strict, "OXBPF_REQUIRE_KERNEL=1 but not root");
    eprintln!("SKIPPED: {what} needs root (it configures a delegated bpffs)");
    false
}
