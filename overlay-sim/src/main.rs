//! The `overlay-sim` program; see [`overlay_sim::cli`].

fn main() -> std::process::ExitCode {
    overlay_sim::cli::main()
}
