//! `ciranda::process` where a seccomp filter refuses `pidfd_open` with `EPERM`, as container
//! and service sandboxes that predate the call do (Docker's default profile before 20.10,
//! `SystemCallFilter=` lists that do not name it): waits must fall back to `SIGCHLD`. Alone in
//! its binary, because the filter stays on every thread of the process.

use ciranda::process::Command;
use std::time::Duration;

/// One classic-BPF instruction (`struct sock_filter`).
#[repr(C)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// A BPF program (`struct sock_fprog`).
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

/// Makes `pidfd_open` fail with `EPERM` on every thread of this process, from now on.
fn refuse_pidfd_open() {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    let filter = [
        // The system call's number: `seccomp_data.nr`, at offset 0.
        SockFilter {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        },
        SockFilter {
            code: JEQ_K,
            jt: 0,
            jf: 1,
            k: libc::SYS_pidfd_open as u32,
        },
        SockFilter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ERRNO | libc::EPERM as u32,
        },
        SockFilter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ALLOW,
        },
    ];
    let program = SockFprog {
        len: filter.len() as u16,
        filter: filter.as_ptr(),
    };
    // SAFETY: prctl with integer arguments only changes this thread's no_new_privs flag, which
    // installing a filter without privileges requires.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(
        rc,
        0,
        "PR_SET_NO_NEW_PRIVS: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `program` and the instructions it points to outlive the call, which copies them;
    // TSYNC applies the filter to every thread (runtime workers, blocking pool).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            1 as libc::c_ulong, // SECCOMP_SET_MODE_FILTER
            1 as libc::c_ulong, // SECCOMP_FILTER_FLAG_TSYNC
            &program as *const SockFprog,
        )
    };
    assert_eq!(rc, 0, "seccomp: {}", std::io::Error::last_os_error());
    // SAFETY: pidfd_open of our own pid, with no flags; the filter answers before the kernel.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), 0) };
    assert_eq!(fd, -1, "the filter let pidfd_open through");
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPERM)
    );
}

/// With `pidfd_open` refused by a sandbox (`EPERM`, the usual answer of a seccomp filter, not
/// `ENOSYS`), children are still waited for and reaped: through `SIGCHLD`, as on a kernel
/// without pidfds, instead of every wait failing with "Operation not permitted".
#[ciranda::test]
async fn waits_fall_back_to_sigchld_when_a_sandbox_refuses_pidfd_open() {
    refuse_pidfd_open();
    let within = Duration::from_secs(30);
    let status = ciranda::time::timeout(within, Command::new("sh").args(["-c", "exit 3"]).status())
        .await
        .expect("status() hung")
        .expect("status() failed");
    assert_eq!(status.code(), Some(3));
    // A child that is still running when the wait begins.
    let mut child = Command::new("sh")
        .args(["-c", "sleep 0.2; exit 4"])
        .spawn()
        .unwrap();
    let status = ciranda::time::timeout(within, child.wait())
        .await
        .expect("wait() hung")
        .expect("wait() failed");
    assert_eq!(status.code(), Some(4));
    let out = ciranda::time::timeout(within, Command::new("echo").arg("hi").output())
        .await
        .expect("output() hung")
        .expect("output() failed");
    assert_eq!(out.stdout, b"hi\n");
}
