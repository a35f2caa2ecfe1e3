//! Benchmarks that need the whole broker and a real server live in `benches/`; run them with
//! `cargo bench -p pgbroker-benchmarks`. Each prints the limit it is compared with.
