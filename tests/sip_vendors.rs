//! Real vendor messages (tests/fixtures/sip/vendors, see PROVENANCE.md): each is accepted,
//! passes the proxy's checks and leaves byte-identical.

use siproxd::sip::sdp::Direction;
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
    assert_eq!(n, 25);
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

#[test]
fn typed_views_on_more_vendor_messages() {
    // Cisco IOS gateway through a sipX proxy: `Call-Id`/`Cseq` spellings, a Via with two spaces
    // after the protocol, and a multipart body that is not SDP.
    let c =
        Message::parse_datagram(&fixture("cisco-ios-gateway-invite-multipart-gtd.sip")).unwrap();
    assert_eq!(
        c.call_id().unwrap(),
        b"55147C1E-F6ED11D9-80E3EC05-47D61469@10.21.128.204"
    );
    let cseq = c.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (101, &b"INVITE"[..]));
    let vias = c.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(
        (vias[2].transport(), vias[2].host(), vias[2].port()),
        (&b"UDP"[..], &b"10.21.128.204"[..], Some(5060))
    );
    let ct = c.content_type().unwrap().unwrap();
    assert_eq!(
        (ct.media_type, ct.params, ct.is_sdp()),
        (
            &b"multipart/mixed"[..],
            &b";boundary=uniqueBoundary"[..],
            false
        )
    );
    assert_eq!((c.content_length(), c.body().len()), (Some(561), 561));
    assert_eq!(c.max_forwards().unwrap(), Some(9));

    // Htek UC V20 INVITE to 3CX: Proxy-Authorization on the first INVITE, audio + video SDP.
    let h = Message::parse_datagram(&fixture("htek-ucv20-invite-video-proxy-auth.sip")).unwrap();
    let pa = h.auth(HeaderName::ProxyAuthorization).unwrap();
    assert_eq!(pa[0].get(b"realm").unwrap().as_ref(), b"3CXPhoneSystem");
    assert_eq!(
        pa[0].get(b"uri").unwrap().as_ref(),
        b"sip:1506@192.168.0.68:5060"
    );
    let sdp = Sdp::parse(h.body()).unwrap();
    assert_eq!(sdp.media.len(), 2);
    assert_eq!(
        (sdp.media[1].media, sdp.media[1].port, sdp.media[1].formats),
        (&b"video"[..], 12150, &b"96 97"[..])
    );

    // Its hold re-INVITE: c=0.0.0.0, sendonly audio, video switched off with port 0.
    let hold = Message::parse_datagram(&fixture("htek-ucv20-reinvite-hold-sendonly.sip")).unwrap();
    let sdp = Sdp::parse(hold.body()).unwrap();
    assert_eq!(sdp.connection.as_ref().unwrap().address, b"0.0.0.0");
    assert_eq!(sdp.media[0].direction, Some(Direction::SendOnly));
    assert_eq!((sdp.media[1].media, sdp.media[1].port), (&b"video"[..], 0));
    assert_eq!(hold.to().unwrap().tag(), Some(&b"8f1c0b35"[..]));

    // Htek register: the four spaces in the User-Agent are kept as sent.
    let r = Message::parse_datagram(&fixture("htek-ipphone-register.sip")).unwrap();
    assert_eq!(
        r.user_agent(),
        Some(&b"IPPHONE    V2.23.3.29.488 001fc11f34be"[..])
    );
    assert_eq!(r.expires().unwrap(), Some(900));

    // Meet2Talk INVITE after a proxy: received on the top Via, one Record-Route.
    let m = Message::parse_datagram(&fixture("m2tua-invite-sdp-two-vias.sip")).unwrap();
    let vias = m.vias().unwrap();
    assert_eq!(
        (vias.len(), vias[0].received(), vias[1].port()),
        (2, Some(&b"192.168.2.220"[..]), Some(5100))
    );
    assert_eq!(m.route_set(HeaderName::RecordRoute).unwrap().len(), 1);
    assert_eq!(Sdp::parse(m.body()).unwrap().media[0].port, 9000);

    // Microsoft RTC: a quoted Contact parameter with commas, and repeated Supported lines.
    let ms = Message::parse_datagram(&fixture("ms-rtc-1.2-register.sip")).unwrap();
    let contacts = ms.contacts().unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(
        contacts[0].addr().unwrap().uri_bytes(),
        b"sip:192.168.1.31:16879"
    );
    let sub = Message::parse_datagram(&fixture("ms-rtc-1.3-subscribe-presence.sip")).unwrap();
    assert_eq!(sub.count(HeaderName::Supported), 2);
    assert_eq!(sub.header(HeaderName::Event), Some(&b"presence"[..]));
    assert_eq!(
        sub.from()
            .unwrap()
            .display_name_unquoted()
            .unwrap()
            .as_ref(),
        b"user@sip.domain.com"
    );

    // Xten X-PRO INVITE and the Asterisk 403.
    let x = Message::parse_datagram(&fixture("xten-xpro-1103v-invite-sdp.sip")).unwrap();
    let sdp = Sdp::parse(x.body()).unwrap();
    assert_eq!(
        (sdp.media[0].port, sdp.media[0].formats),
        (8004, &b"0 8 3 97 101"[..])
    );
    let f = Message::parse_datagram(&fixture("asterisk-403-forbidden-register.sip")).unwrap();
    assert_eq!(
        (f.status_code(), f.reason_phrase(), f.cseq().unwrap().method),
        (Some(403), Some(&b"Forbidden"[..]), &b"REGISTER"[..])
    );

    // FreeSWITCH 200 OK: Content-Length before the last header, rport with a value, a=rtcp.
    let fs = Message::parse_datagram(&fixture("freeswitch-1.10.7-200-ok-sdp.sip")).unwrap();
    assert_eq!(fs.top_via().unwrap().rport(), Some(Some(&b"5061"[..])));
    assert_eq!(fs.content_length(), Some(257));
    let sdp = Sdp::parse(fs.body()).unwrap();
    assert_eq!(
        (sdp.media[0].port, sdp.media[0].rtcp_port),
        (24508, Some(24509))
    );

    // NTT SecureSession NOTIFY from SIPit: a Content-Type folded over three lines, S/MIME body.
    let n = Message::parse_datagram(&fixture("ntt-securesession-notify-smime-folded.sip")).unwrap();
    let ct = n.content_type().unwrap().unwrap();
    assert_eq!(ct.media_type, b"multipart/signed");
    assert!(ct
        .params
        .starts_with(b";\r\n protocol=\"application/pkcs7-signature\";"));
    assert!(ct.params.ends_with(b"hOhrDfS3LLs1MyYBdLNgBLsSC\""));
    assert_eq!((n.content_length(), n.body().len()), (Some(1929), 1929));
    let vias = n.vias().unwrap();
    assert_eq!(
        (vias.len(), vias[0].transport(), vias[2].received()),
        (3, &b"TCP"[..], Some(&b"192.168.2.220"[..]))
    );

    let l = Message::parse_datagram(&fixture("linphone-3.3.99-register.sip")).unwrap();
    assert_eq!(
        l.user_agent(),
        Some(&b"Linphone/3.3.99.10 (eXosip2/3.3.0)"[..])
    );
}
