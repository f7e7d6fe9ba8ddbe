//! Helpers shared by the proxy scenario tests.
#![allow(dead_code)]

use md5::{Digest, Md5};

/// The proxy's branch for a request whose top Via carried RFC 3261 branch `b`:
/// `z9hG4bK` + MD5(b, NUL) in lowercase hex.
pub fn branch_for(b: &str) -> String {
    let mut h = Md5::new();
    h.update(b.as_bytes());
    h.update([0u8]);
    let hex: String = h.finalize().iter().map(|x| format!("{x:02x}")).collect();
    format!("z9hG4bK{hex}")
}

pub const REGISTER: &str = "REGISTER sip:example.test SIP/2.0
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
Max-Forwards: 70
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Contact: <sip:alice@10.99.0.10:5060>;+sip.instance=\"<urn:uuid:1>\"
Expires: 600
User-Agent: sipp-reg
Content-Length: 0

";

/// A TestNet (with `conf`) where alice's phone is registered and confirmed.
pub fn registered_with(conf: &str) -> siproxd::proxy::testnet::TestNet {
    use siproxd::proxy::testnet::{phone, registrar, TestNet};
    let mut net = TestNet::new(conf);
    net.send(phone(), REGISTER);
    net.take();
    let b = branch_for("z9hG4bK-reg-1");
    net.send(
        registrar(),
        &format!(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 198.51.100.1:5060;branch={b}
Via: SIP/2.0/UDP 10.99.0.10:5060;branch=z9hG4bK-reg-1
From: <sip:alice@example.test>;tag=r1
To: <sip:alice@example.test>;tag=srv1
Call-ID: reg1@10.99.0.10
CSeq: 1 REGISTER
Contact: <sip:alice@198.51.100.1>;expires=600
Content-Length: 0

"
        ),
    );
    net.take();
    net
}
