//! The sent-by part of a Via value (`SIP/2.0/UDP host:port;branch=…`).

/// Byte range of the sent-by (`host[:port]`) of the first Via value in a
/// field line, or `None` if the line does not look like a Via.
pub fn via_sent_by(line: &str) -> Option<(usize, usize)> {
    let proto_end = line.find(|c: char| c.is_ascii_whitespace())?;
    if !line
        .get(..proto_end)?
        .to_ascii_uppercase()
        .starts_with("SIP/")
    {
        return None;
    }
    let rest = line.get(proto_end..)?;
    let start = proto_end + (rest.len() - rest.trim_start().len());
    let tail = line.get(start..)?;
    let len = tail
        .find(|c: char| c == ';' || c == ',' || c.is_ascii_whitespace())
        .unwrap_or(tail.len());
    (len > 0).then_some((start, start + len))
}

/// `(host, port)` of the first Via value of a field line.
pub fn via_host_port(line: &str) -> Option<(&str, Option<&str>)> {
    let (start, end) = via_sent_by(line)?;
    let sent_by = line.get(start..end)?;
    if let Some(rest) = sent_by.strip_prefix('[') {
        let close = rest.find(']')?;
        return Some((
            sent_by.get(..close + 2)?,
            rest.get(close + 1..)?.strip_prefix(':'),
        ));
    }
    Some(match sent_by.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (sent_by, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_host_and_port_of_the_first_value() {
        let line = "SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK1, SIP/2.0/UDP 1.2.3.4";
        assert_eq!(via_host_port(line), Some(("10.0.0.5", Some("5062"))));
        assert_eq!(via_sent_by(line), Some((12, 25)));
        assert_eq!(
            via_host_port("SIP/2.0/TCP  [2001:db8::5]:5070 ;rport"),
            Some(("[2001:db8::5]", Some("5070")))
        );
        assert_eq!(via_host_port("SIP / 2.0"), None);
        assert_eq!(
            via_host_port("SIP/2.0/UDP host.example"),
            Some(("host.example", None))
        );
    }
}
