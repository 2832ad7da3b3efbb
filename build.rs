//! Target probing only: tells the crate which socket flags the target's libc
//! offers, so `src/sys/` can use the atomic forms where they exist.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let bsd_or_linux =
        ["linux", "android", "freebsd", "netbsd", "openbsd", "dragonfly", "illumos", "solaris"]
            .contains(&os.as_str());
    let apple = ["macos", "ios", "tvos", "watchos", "visionos"].contains(&os.as_str());

    // accept4(2): accept with SOCK_NONBLOCK | SOCK_CLOEXEC in one call.
    emit("pollreactor_accept4", bsd_or_linux);
    // socket(2) takes SOCK_NONBLOCK | SOCK_CLOEXEC in its type argument.
    emit("pollreactor_sock_flags", bsd_or_linux);
    // send(2) takes MSG_NOSIGNAL, so a dead peer gives EPIPE, not SIGPIPE.
    emit("pollreactor_msg_nosignal", bsd_or_linux);
    // Apple has no MSG_NOSIGNAL: the socket option SO_NOSIGPIPE does the job.
    emit("pollreactor_so_nosigpipe", apple);
}

/// Declares `name` to rustc (so no unexpected-cfg warning) and sets it when `on`.
fn emit(name: &str, on: bool) {
    println!("cargo:rustc-check-cfg=cfg({name})");
    if on {
        println!("cargo:rustc-cfg={name}");
    }
}
