//! Target probing only: tells the crate which socket flags the target's libc
//! offers, so `src/sys/` can use the atomic forms where they exist.
//!
//! `--cfg pollreactor_portable` (through `RUSTFLAGS`) turns the shortcuts
//! off, so that a Linux machine builds and tests the paths that Apple takes:
//! plain accept(2) and socket(2) followed by fcntl for O_NONBLOCK and
//! FD_CLOEXEC, and sigwait instead of sigtimedwait. MSG_NOSIGNAL stays:
//! Linux has no SO_NOSIGPIPE to fall back on.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The cfgs given in RUSTFLAGS reach rustc, not this script: read them
    // from the flags cargo hands on to build scripts.
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    // Declared so that `#[cfg(pollreactor_portable)]` in the crate is known
    // to rustc; it is set (or not) by RUSTFLAGS itself, never from here.
    println!("cargo:rustc-check-cfg=cfg(pollreactor_portable)");
    let portable = rustflags_set_cfg("pollreactor_portable");

    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let bsd_or_linux =
        ["linux", "android", "freebsd", "netbsd", "openbsd", "dragonfly", "illumos", "solaris"]
            .contains(&os.as_str());
    let apple = ["macos", "ios", "tvos", "watchos", "visionos"].contains(&os.as_str());

    // accept4(2): accept with SOCK_NONBLOCK | SOCK_CLOEXEC in one call.
    emit("pollreactor_accept4", bsd_or_linux && !portable);
    // socket(2) takes SOCK_NONBLOCK | SOCK_CLOEXEC in its type argument.
    emit("pollreactor_sock_flags", bsd_or_linux && !portable);
    // send(2) takes MSG_NOSIGNAL, so a dead peer gives EPIPE, not SIGPIPE.
    emit("pollreactor_msg_nosignal", bsd_or_linux);
    // Apple has no MSG_NOSIGNAL: the socket option SO_NOSIGPIPE does the job.
    emit("pollreactor_so_nosigpipe", apple);
    // sigtimedwait(2), to take back a SIGPIPE without waiting. Apple,
    // OpenBSD, illumos and Solaris lack it (in libc or in the crate's
    // bindings): there, sigpending says whether sigwait can return at once.
    let sigtimedwait = ["linux", "android", "freebsd", "dragonfly", "netbsd"].contains(&os.as_str());
    emit("pollreactor_sigtimedwait", sigtimedwait && !portable);
    // epoll(7): Linux's own wait, beside the portable poll and select;
    // only with the `epoll` feature (on by default).
    let epoll_feature = std::env::var_os("CARGO_FEATURE_EPOLL").is_some();
    emit("pollreactor_epoll", ["linux", "android"].contains(&os.as_str()) && epoll_feature && !portable);
}

/// Whether the rustc flags cargo uses for this crate set `--cfg name`, in
/// either spelling (`--cfg name` as two arguments, or `--cfg=name`).
fn rustflags_set_cfg(name: &str) -> bool {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let args: Vec<&str> = flags.split('\x1f').collect();
    args.iter().enumerate().any(|(i, arg)| match *arg {
        "--cfg" => args.get(i + 1) == Some(&name),
        _ => arg.strip_prefix("--cfg=") == Some(name),
    })
}

/// Declares `name` to rustc (so no unexpected-cfg warning) and sets it when `on`.
fn emit(name: &str, on: bool) {
    println!("cargo:rustc-check-cfg=cfg({name})");
    if on {
        println!("cargo:rustc-cfg={name}");
    }
}
