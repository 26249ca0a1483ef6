fn main() {
    std::process::exit(windlass::cli::main());
}
