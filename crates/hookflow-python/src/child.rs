//! The only unsafe code of hookflow-python: what the script's process does between `fork` and
//! `exec` (std's `pre_exec`), and killing a process group. The setup runs in a forked copy of a
//! multi-threaded server, so it makes raw system calls only: no allocation, no locks, nothing
//! that could wait on a lock another thread of the server held at the fork.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

/// One resource limit: (resource, soft, hard).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit(pub Resource, pub u64, pub u64);

/// Everything the child does before it becomes the interpreter, prepared by the parent.
pub(crate) struct ChildSetup {
    /// The server's pid: a child whose parent is already gone exits at once.
    pub parent_pid: libc::pid_t,
    /// Run as this uid/gid (supplementary groups dropped), when the server is root.
    pub drop_to: Option<(u32, u32)>,
    pub limits: Vec<Limit>,
    /// Namespaces, seccomp and Landlock; `None` with `--python-sandbox none`.
    pub isolation: Option<Isolation>,
    /// A pipe the interpreter inherits (its number is passed in its arguments).
    pub pass_fd: RawFd,
    /// The script's working directory.
    pub workdir: std::ffi::CString,
}

pub(crate) struct Isolation {
    /// A new network namespace (nothing but a loopback that is down).
    pub new_net: bool,
    /// RLIMIT_NPROC, set once inside the new user namespace. Set before, it would also become
    /// the namespace's cap on the parent level, where every script's processes of the same uid
    /// are counted together (kernel/ucount.c), and concurrent scripts would fail to fork.
    pub max_processes: u64,
    /// A Landlock ruleset built by the parent; the child only enforces it.
    pub landlock_fd: RawFd,
    /// A seccomp filter program (empty: none).
    pub seccomp: Vec<libc::sock_filter>,
}

/// A setup step failed: says which on the script's stderr and exits with the error number, so
/// the server reports the step (see `SETUP_FAILED`) instead of a bare "spawn failed".
fn fail(stage: &[u8]) -> ! {
    // SAFETY: write(2) and _exit(2) on static bytes.
    unsafe {
        let errno = *libc::__errno_location();
        libc::write(2, SETUP_FAILED.as_ptr().cast(), SETUP_FAILED.len());
        libc::write(2, stage.as_ptr().cast(), stage.len());
        libc::write(2, b"\n".as_ptr().cast(), 1);
        libc::_exit(errno.clamp(1, 255))
    }
}

/// The line a failed setup step writes to stderr before its name.
pub(crate) const SETUP_FAILED: &str = "hookflow-sandbox: setup failed: ";

/// Installs `setup` to run in the child before it executes the interpreter.
pub(crate) fn install(cmd: &mut tokio::process::Command, setup: ChildSetup) {
    // SAFETY: `apply` only makes system calls (async-signal-safe) on memory prepared before the
    // fork; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || setup.apply());
    }
}

impl ChildSetup {
    fn apply(&self) -> io::Result<()> {
        // SAFETY: plain system calls on values owned by `self`; see `install`.
        unsafe {
            // Its own session and process group: the timeout kills the group.
            if libc::setsid() < 0 {
                fail(b"setsid");
            }
            if let Some((uid, gid)) = self.drop_to
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0)
            {
                fail(b"changing to the sandbox user");
            }
            for l in &self.limits {
                let r = libc::rlimit {
                    rlim_cur: l.1,
                    rlim_max: l.2,
                };
                if libc::setrlimit(l.0, &r) != 0 {
                    fail(b"setrlimit");
                }
            }
            // Set after the uid change, which clears it. A server gone already: exit.
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                fail(b"PR_SET_PDEATHSIG");
            }
            if libc::getppid() != self.parent_pid {
                libc::_exit(125);
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                fail(b"PR_SET_NO_NEW_PRIVS");
            }
            let Some(iso) = &self.isolation else {
                return self.pass();
            };
            let mut flags = libc::CLONE_NEWUSER | libc::CLONE_NEWPID;
            if iso.new_net {
                flags |= libc::CLONE_NEWNET;
            }
            if libc::unshare(flags) != 0 {
                fail(b"unshare (user, PID and network namespaces)");
            }
            let nproc = libc::rlimit {
                rlim_cur: iso.max_processes,
                rlim_max: iso.max_processes,
            };
            if libc::setrlimit(libc::RLIMIT_NPROC, &nproc) != 0 {
                fail(b"setrlimit RLIMIT_NPROC");
            }
            // The new PID namespace holds this process's next child, not this process. This
            // process stays outside as the supervisor the server waits for; its child is the
            // namespace's PID 1, a reaper; the reaper's child becomes the interpreter. When
            // the interpreter ends, the reaper ends, and the kernel kills every process left
            // in the namespace (daemonised or not). The interpreter is not PID 1, so the
            // kernel's special rules for init (signals without a handler ignored, orphans
            // left as zombies) do not apply to the script.
            libc::signal(libc::SIGCHLD, libc::SIG_DFL);
            let mut status_pipe = [0 as libc::c_int; 2];
            if libc::pipe2(status_pipe.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                fail(b"pipe2");
            }
            if let Some(pid) = fork_child() {
                supervise(pid, status_pipe[0]);
            }
            if let Some(pid) = fork_child() {
                reap(pid, status_pipe[1]);
            }
            if !iso.seccomp.is_empty() {
                let prog = libc::sock_fprog {
                    len: iso.seccomp.len() as libc::c_ushort,
                    filter: iso.seccomp.as_ptr() as *mut libc::sock_filter,
                };
                if libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                    &prog as *const libc::sock_fprog as libc::c_ulong,
                    0,
                    0,
                ) != 0
                {
                    fail(b"seccomp");
                }
            }
            if libc::syscall(libc::SYS_landlock_restrict_self, iso.landlock_fd, 0u32) != 0 {
                fail(b"landlock_restrict_self");
            }
            self.pass()
        }
    }

    /// Enters the working directory and lets the interpreter inherit `pass_fd` (every other
    /// descriptor closes at exec).
    fn pass(&self) -> io::Result<()> {
        // SAFETY: chdir(2) on a C string owned by `self`, fcntl(2) on an integer.
        unsafe {
            if libc::chdir(self.workdir.as_ptr()) != 0 {
                fail(b"entering the working directory (can the sandbox user reach TMPDIR?)");
            }
            if libc::fcntl(self.pass_fd, libc::F_SETFD, 0) != 0 {
                fail(b"fcntl");
            }
        }
        Ok(())
    }
}

/// Forks: the child's pid in the parent; `None` in the child, which dies with its parent.
///
/// # Safety
/// Only between `fork` and `exec` in the process spawned for a script (see `apply`).
unsafe fn fork_child() -> Option<libc::pid_t> {
    // SAFETY: fork(2) in a single-threaded child process (the caller's contract above).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        fail(b"fork");
    }
    if pid > 0 {
        return Some(pid);
    }
    die_with_parent();
    None
}

/// SIGKILL when the parent process ends (set again in each new child: fork clears it).
fn die_with_parent() {
    // SAFETY: prctl(2) on integers.
    unsafe {
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            fail(b"PR_SET_PDEATHSIG");
        }
    }
}

/// Makes this process undumpable (not readable through ptrace or /proc: it still maps the
/// server's memory) and leaves it one descriptor: `status_fd`, as 3.
///
/// # Safety
/// Only in a process forked from the server that never returns into std's child code.
unsafe fn keep_only_status_fd(status_fd: libc::c_int) {
    // SAFETY: system calls on plain integers (the caller's contract above).
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        libc::dup2(status_fd, 3);
        libc::syscall(libc::SYS_close_range, 0u32, 2u32, 0u32);
        libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
    }
}

/// Waits (`waitpid(which)`) until process `child` has ended: its wait status. Any other error
/// than an interrupted wait ends this process with 125.
///
/// # Safety
/// As [`keep_only_status_fd`].
unsafe fn wait_for(which: libc::pid_t, child: libc::pid_t) -> libc::c_int {
    let mut status: libc::c_int = 0;
    // SAFETY: system calls on plain integers and a local (the caller's contract above).
    unsafe {
        loop {
            let r = libc::waitpid(which, &mut status, 0);
            if r == child {
                return status;
            }
            if r < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(125);
            }
        }
    }
}

/// The namespace's PID 1: reaps every process orphaned into it until the interpreter (`child`)
/// ends, then hands the interpreter's wait status to the supervisor on `status_fd` and exits
/// (which ends the namespace). A signal cannot end PID 1 the usual way from inside its
/// namespace, hence the pipe.
fn reap(child: libc::pid_t, status_fd: libc::c_int) -> ! {
    // SAFETY: system calls only; this process never returns into std's child code.
    unsafe {
        keep_only_status_fd(status_fd);
        let status = wait_for(-1, child);
        let bytes = status.to_ne_bytes();
        libc::write(3, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(0)
    }
}

/// The supervisor: the process the server spawned and waits for. It waits for the namespace's
/// PID 1 (the reaper), reads the interpreter's wait status from it, and ends the same way.
fn supervise(reaper: libc::pid_t, status_fd: libc::c_int) -> ! {
    // SAFETY: system calls only; this process never returns into std's child code.
    unsafe {
        // Holds no pipe of the script's: the server sees end-of-output when the script's side
        // closes, and std's exec-error pipe reports the interpreter's exec alone.
        keep_only_status_fd(status_fd);
        let mut status = wait_for(reaper, reaper);
        // The reaper's own end, unless it handed over the interpreter's.
        let mut bytes = [0u8; 4];
        if libc::read(3, bytes.as_mut_ptr().cast(), 4) == 4 {
            status = libc::c_int::from_ne_bytes(bytes);
        }
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        let sig = libc::WTERMSIG(status);
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), sig);
        libc::_exit(128 + sig)
    }
}

/// SIGKILL to every process of the group `pgid` (the script's: see `setsid` above).
pub(crate) fn kill_group(pgid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid)
        && pgid > 1
    {
        // SAFETY: a system call on plain integers.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// The server's pid.
pub(crate) fn own_pid() -> libc::pid_t {
    // SAFETY: a system call without arguments.
    unsafe { libc::getpid() }
}

/// The Landlock ABI version the kernel offers (0 or less: none).
pub(crate) fn landlock_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
    // SAFETY: landlock_create_ruleset(NULL, 0, VERSION) only returns a number.
    let n = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(n).unwrap_or(0)
}

/// Whether this process runs as root (then the script runs as `--python-user`).
pub(crate) fn is_root() -> bool {
    // SAFETY: a system call without arguments.
    unsafe { libc::geteuid() == 0 }
}

// The filter's opcodes, composed from libc's parts (class | size | mode, as in linux/filter.h).
const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// A seccomp filter refusing `socket(AF_UNIX, …)` with EACCES (a pathname Unix socket, e.g. a
/// local database's, is reachable without any file access Landlock controls before ABI 9) and
/// every system call of a foreign ABI (i386, x32) with EPERM; everything else is allowed.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn unix_socket_filter() -> Vec<libc::sock_filter> {
    vec![
        insn(BPF_LD_W_ABS, 0, 0, 4), // arch
        insn(BPF_JEQ_K, 1, 0, AUDIT_ARCH),
        insn(
            BPF_RET_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        insn(BPF_LD_W_ABS, 0, 0, 0), // nr
        insn(BPF_JGE_K, 0, 1, 0x4000_0000),
        insn(
            BPF_RET_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        insn(BPF_JEQ_K, 0, 3, libc::SYS_socket as u32),
        insn(BPF_LD_W_ABS, 0, 0, 16), // args[0], low half
        insn(BPF_JEQ_K, 0, 1, libc::AF_UNIX as u32),
        insn(
            BPF_RET_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::EACCES as u32,
        ),
        insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) fn unix_socket_filter() -> Vec<libc::sock_filter> {
    Vec::new()
}
