//! `iu-cutter`: cut documents in a database into information units, as one gated, verifiable,
//! reversible run. This file is thin; the program is in `cli/`.

mod cli;

/// jemalloc, returning freed pages after a second (`dirty_decay_ms:1000,muzzy_decay_ms:0`,
/// built in by `.cargo/config.toml`): with glibc's malloc a run's resident set grew with its scope, each
/// thread's arena keeping what the batches freed, although the heap did not grow (README,
/// *Memory at scale*). The library sets no allocator; a service embedding it chooses its own.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
