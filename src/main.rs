//! The `leakhound` binary: parse the command line, run, map the outcome to an exit status.

mod cli;

use std::process::ExitCode;

/// mimalloc reuses the large buffers polars allocates and frees from several threads, where
/// glibc's allocator hands them back to the kernel and has them zeroed again on the next use
/// (3M events, 2 cores: 6.7–7.7 s with 3–4.6 s in the kernel → 4.1–5.2 s with under 1 s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Transparent huge pages off for this process, unless `MIMALLOC_ALLOW_THP` asks for them.
///
/// Every 2 MiB huge page is zeroed whole when first touched, and on a virtual machine whose
/// host takes back free memory the guest's free huge pages are often ones the host must supply
/// afresh: the kernel's share of a 10M-event scan on the 2-core development VM was 4.6–5.6 s
/// with huge pages and 1.8–2.3 s without (wall 8.4–9.1 s → 7.2–7.5 s, eight interleaved
/// runs), for 0.3 s more in user space. Small pages are taken from memory the guest used
/// recently.
#[cfg(target_os = "linux")]
fn without_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: `PR_SET_THP_DISABLE` takes integer arguments only and changes nothing but
        // the process's use of huge pages; a failure leaves them on.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    without_huge_pages();
    match cli::run() {
        Ok(status) => status.into(),
        Err(e) => {
            eprintln!("leakhound: error: {e:#}");
            cli::Status::Error.into()
        }
    }
}
