//! The `leakhound` binary: parse the command line, run, map the outcome to an exit status.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(status) => status.into(),
        Err(e) => {
            eprintln!("leakhound: error: {e:#}");
            cli::Status::Error.into()
        }
    }
}
