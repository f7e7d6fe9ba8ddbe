//! Replays the checked-in fuzz corpora (fuzz/corpus/<target>/) and the fixture corpus through
//! the same oracles the cargo-fuzz targets use, so stable CI covers them without nightly.

use siproxd::sip::fuzz_oracles;
use std::path::Path;

fn replay(target: &str, oracle: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| oracle(&data));
        assert!(
            result.is_ok(),
            "{target}: oracle failed on {}",
            path.display()
        );
        n += 1;
    }
    n
}

/// Every file under tests/fixtures/sip, recursively.
fn fixtures(dir: &Path, out: &mut Vec<Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            fixtures(&path, out);
        } else if path.extension().is_some_and(|e| e == "dat" || e == "sip") {
            out.push(std::fs::read(&path).unwrap());
        }
    }
}

#[test]
fn message_corpus() {
    assert!(replay("sip_message", fuzz_oracles::message) >= 75);
}

#[test]
fn framer_corpus() {
    assert!(replay("sip_framer", fuzz_oracles::framer) >= 1);
}

#[test]
fn sdp_corpus() {
    assert!(replay("sdp_rewrite", fuzz_oracles::sdp_rewrite) >= 1);
}

#[test]
fn fixtures_pass_every_oracle() {
    let mut all = Vec::new();
    fixtures(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sip"),
        &mut all,
    );
    assert!(all.len() >= 75);
    for data in &all {
        fuzz_oracles::message(data);
        // The framer sees the message as a stream with a 0-byte split byte prefix.
        fuzz_oracles::framer(&[&[255u8][..], data].concat());
        if let Some(body) = siproxd::sip::Message::parse_datagram(data)
            .ok()
            .map(|m| m.body().to_vec())
        {
            fuzz_oracles::sdp_rewrite(&body);
        }
    }
}
