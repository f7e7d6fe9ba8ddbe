fn main() {
    println!("siproxd-rs {}", env!("CARGO_PKG_VERSION"));
}
