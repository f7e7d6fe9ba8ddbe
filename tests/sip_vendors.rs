//! Real vendor messages (tests/fixtures/sip/vendors, see PROVENANCE.md): each is accepted,
//! passes the proxy's checks and leaves byte-identical.

use siproxd::sip::{HeaderName, Message, Sdp};
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sip/vendors")
            .join(name),
    )
    .unwrap()
}

#[test]
fn every_vendor_message_round_trips_and_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sip/vendors");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "sip") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let m =
            Message::parse_datagram(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        m.check()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(m.as_bytes(), &data[..], "{}", path.display());
        n += 1;
    }
    assert_eq!(n, 11);
}

#[test]
fn typed_views_on_vendor_messages() {
    let p = Message::parse_datagram(&fixture("polycom-spip650-invite-1.sip")).unwrap();
    assert_eq!(
        p.user_agent(),
        Some(&b"PolycomSoundPointIP-SPIP_650-UA/3.1.3.0439"[..])
    );
    assert_eq!(
        p.request_uri().unwrap().unwrap().param(b"user"),
        Some(Some(&b"phone"[..]))
    );
    let sdp = Sdp::parse(p.body()).unwrap();
    assert_eq!(
        (sdp.media[0].port, sdp.connection.as_ref().unwrap().address),
        (2262, &b"172.20.3.46"[..])
    );

    let c = Message::parse_datagram(&fixture("3com-register-compact.sip")).unwrap();
    assert_eq!(c.top_via().unwrap().port(), Some(5060));
    assert_eq!(
        c.contacts().unwrap()[0].addr().unwrap().param(b"dt"),
        Some(Some(&b"544"[..]))
    );
    assert_eq!(
        c.call_id().unwrap(),
        b"e2d02388-01d6-0352-13c6-00e0bb36ca69"
    );

    let a = Message::parse_datagram(&fixture("adtran-netvanta-180-ringing.sip")).unwrap();
    let vias = a.vias().unwrap();
    assert_eq!((vias.len(), vias[1].host()), (2, &b"172.20.3.46"[..]));

    let s = Message::parse_datagram(&fixture("snom360-invite-utf8-display-name.sip")).unwrap();
    assert_eq!(
        s.from().unwrap().display_name_unquoted().unwrap().as_ref(),
        "теле Cном_3606".as_bytes()
    );

    let r = Message::parse_datagram(&fixture("polycom-spip500-refer-sofia.sip")).unwrap();
    let refer_to = r.header(HeaderName::ReferTo).unwrap();
    assert!(refer_to.ends_with(b"%3Bfrom-tag%3D93AC8D50-7CF6DAAF>"));

    let reg = Message::parse_datagram(&fixture("sipp-register-lan-siproxd-wire.sip")).unwrap();
    let auth = reg.auth(HeaderName::Authorization).unwrap();
    assert_eq!(auth[0].get(b"uri").unwrap().as_ref(), b"sip:10.99.0.1:5060");
}

#[test]
fn upstream_crash_response_is_handled() {
    // siproxd-on-the-wire.md §8: one Via only; removing it leaves none, which is an Err.
    let mut m =
        Message::parse_datagram(&fixture("tcp-200-only-proxy-via-siproxd-crash.sip")).unwrap();
    m.remove_top_via().unwrap();
    assert!(m.top_via().is_err());
    assert!(m.set_top_via_param(b"received", Some(b"10.0.0.1")).is_err());
}
