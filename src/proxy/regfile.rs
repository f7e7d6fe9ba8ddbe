//! The registration file (`registration_file`): upstream's exact text
//! format, so that pfSense's *Registered Phones* page and OPNsense's
//! `registrations` action keep working.
//!
//! Layer: pure (text in, text out); the shell reads and writes the file with
//! [`write_atomically`]. Mirrors upstream `register.c:register_init` /
//! `register_save` (inventory §6):
//!
//! ```text
//! ****:<active 0|1>:<expires, absolute epoch seconds>
//! <true_url>      only if active: the phone's Contact URI
//! <masq_url>      only if active: the masqueraded URI
//! <reg_url>       only if active: the address of record (To URI)
//! ```
//!
//! Upstream writes exactly `URLMAP_SIZE` (512) records, inactive ones as
//! `****:0:0`; we write every binding we hold and pad with inactive records
//! up to 512, so readers that expect 512 records still find them. Reading is
//! tolerant where upstream's is not: a damaged record loses only itself
//! (upstream stops reading the whole file), and lines of any length work
//! (upstream's 128-byte buffer desynchronises on long URIs).

#![forbid(unsafe_code)]

use std::fmt::Write as _;

/// Upstream's table size; the file holds at least this many records.
pub const URLMAP_SIZE: usize = 512;

/// One active binding as stored in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegRecord {
    /// Absolute expiry, seconds since the epoch.
    pub expires: i64,
    /// The phone's own Contact URI (`sip:abcd@192.168.1.10:5062;line=k3j2`).
    pub true_url: String,
    /// What the provider sees (`sip:1001@203.0.113.5`).
    pub masq_url: String,
    /// The address of record (`sip:1001@sip.provider.net`).
    pub reg_url: String,
}

/// A record that could not be read; the rest of the file still is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// 1-based line of the record's header (or of the stray line).
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Renders `records` in upstream's format, padded to [`URLMAP_SIZE`].
pub fn render(records: &[RegRecord]) -> String {
    let mut out = String::with_capacity(records.len() * 128 + URLMAP_SIZE * 9);
    for r in records {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "****:1:{}\n{}\n{}\n{}\n",
            r.expires, r.true_url, r.masq_url, r.reg_url
        );
    }
    for _ in records.len()..URLMAP_SIZE {
        out.push_str("****:0:0\n");
    }
    out
}

/// Reads the active records of a registration file. Damaged records are
/// skipped and reported; reading resynchronises at the next `****:` line.
pub fn parse(text: &str) -> (Vec<RegRecord>, Vec<Damage>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut damage = Vec::new();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        let at = i + 1;
        match parse_header(line) {
            Some((false, _)) => i += 1,
            Some((true, expires)) => match take_urls(&lines, i + 1) {
                Ok([true_url, masq_url, reg_url]) => {
                    i += 4;
                    records.push(RegRecord {
                        expires,
                        true_url: true_url.to_string(),
                        masq_url: masq_url.to_string(),
                        reg_url: reg_url.to_string(),
                    });
                }
                Err(reason) => {
                    damage.push(Damage { line: at, reason });
                    i = resync(&lines, i + 1);
                }
            },
            None if line.trim().is_empty() => i += 1,
            None => {
                let reason =
                    format!("expected a record header \"****:<active>:<expires>\", found {line:?}");
                damage.push(Damage { line: at, reason });
                i = resync(&lines, i + 1);
            }
        }
    }
    (records, damage)
}

/// The index of the next record header at or after `from` (or the end).
fn resync(lines: &[&str], from: usize) -> usize {
    let skipped = lines
        .iter()
        .skip(from)
        .take_while(|l| !l.starts_with("****:"))
        .count();
    from + skipped
}

/// `****:<active>:<expires>` → (active, expires). Upstream reads both with
/// scanf `%i`/`%lld`; anything but 0 counts as active.
fn parse_header(line: &str) -> Option<(bool, i64)> {
    let rest = line.trim_end().strip_prefix("****:")?;
    let (active, expires) = rest.split_once(':')?;
    let active: i64 = active.trim().parse().ok()?;
    let expires: i64 = expires.trim().parse().ok()?;
    Some((active != 0, expires))
}

/// The three URI lines after an active header, each a SIP URI.
fn take_urls<'a>(lines: &[&'a str], from: usize) -> Result<[&'a str; 3], String> {
    let mut urls = [""; 3];
    for (k, slot) in urls.iter_mut().enumerate() {
        let line = lines
            .get(from + k)
            .map(|l| l.trim_end())
            .ok_or_else(|| "the file ends inside the record".to_string())?;
        if line.starts_with("****:") {
            return Err("record cut short: the next header came before its three URIs".into());
        }
        if !(line.starts_with("sip:") || line.starts_with("sips:")) {
            let which = ["true_url", "masq_url", "reg_url"]
                .get(k)
                .copied()
                .unwrap_or("url");
            return Err(format!("{which} {line:?} is not a sip: or sips: URI"));
        }
        *slot = line;
    }
    Ok(urls)
}

/// Writes `contents` to `path` atomically: a temporary file in the same
/// directory, flushed to disk, then renamed over the old file. A reader (or
/// a SIGKILL in the middle) sees the old file or the new one, never half.
/// Upstream truncates and rewrites in place.
pub fn write_atomically(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let result = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(contents.as_bytes())?;
        f.sync_all()
    });
    match result.and_then(|_| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(err) => {
            let _ = std::fs::remove_file(&tmp);
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> RegRecord {
        RegRecord {
            expires: 1767225600,
            true_url: "sip:abcd@192.168.1.10:5062;line=k3j2".into(),
            masq_url: "sip:1001@203.0.113.5".into(),
            reg_url: "sip:1001@sip.provider.net".into(),
        }
    }

    #[test]
    fn renders_upstreams_layout_padded_to_512_records() {
        let text = render(&[alice()]);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("****:1:1767225600"));
        assert_eq!(lines.next(), Some("sip:abcd@192.168.1.10:5062;line=k3j2"));
        assert_eq!(lines.next(), Some("sip:1001@203.0.113.5"));
        assert_eq!(lines.next(), Some("sip:1001@sip.provider.net"));
        assert_eq!(lines.next(), Some("****:0:0"));
        assert_eq!(
            text.lines().filter(|l| l.starts_with("****:")).count(),
            URLMAP_SIZE
        );
        assert!(text.ends_with("****:0:0\n"));
    }

    #[test]
    fn round_trip() {
        let b = RegRecord {
            expires: 42,
            true_url: "sip:10.0.0.7".into(),
            masq_url: "sip:bob@198.51.100.1:5070".into(),
            reg_url: "sips:bob@example.test".into(),
        };
        let (records, damage) = parse(&render(&[alice(), b.clone()]));
        assert_eq!(records, vec![alice(), b]);
        assert!(damage.is_empty());
    }

    #[test]
    fn reads_the_inventory_example() {
        let text = "****:1:1767225600\nsip:abcd@192.168.1.10:5062;line=k3j2\nsip:1001@203.0.113.5\nsip:1001@sip.provider.net\n****:0:0\n";
        let (records, damage) = parse(text);
        assert_eq!(records, vec![alice()]);
        assert!(damage.is_empty());
    }

    #[test]
    fn a_damaged_record_loses_only_itself() {
        let text = "****:1:100\nsip:a@10.0.0.1\n****:1:200\nsip:b@10.0.0.2\nsip:b@198.51.100.1\nsip:b@example.test\ngarbage\n****:1:300\nsip:c@10.0.0.3\nhttp://nope\nsip:c@example.test\n****:1:400\nsip:d@10.0.0.4\nsip:d@198.51.100.1\n";
        let (records, damage) = parse(text);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].reg_url, "sip:b@example.test");
        assert_eq!(
            damage.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "line 1: record cut short: the next header came before its three URIs",
                "line 7: expected a record header \"****:<active>:<expires>\", found \"garbage\"",
                "line 8: masq_url \"http://nope\" is not a sip: or sips: URI",
                "line 12: the file ends inside the record",
            ]
        );
    }

    #[test]
    fn long_uris_survive() {
        let mut r = alice();
        r.true_url = format!("sip:{}@192.168.1.10:5062", "x".repeat(300));
        let (records, _) = parse(&render(&[r.clone()]));
        assert_eq!(records, vec![r]);
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = std::env::temp_dir().join(format!("spx-regfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("siproxd_registrations");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, &render(&[alice()])).unwrap();
        let (records, _) = parse(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(records, vec![alice()]);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left behind"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
