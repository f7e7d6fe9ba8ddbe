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
