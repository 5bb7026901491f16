//! `iu-cutter`: cut documents in a database into information units, as one gated, verifiable,
//! reversible run. This file is thin; the program is in `cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
