//! plugin_siptrunk: incoming calls from a SIP trunk (a block of numbers on
//! one account) are routed to the phone registered with that account.
//!
//! Mirrors plugin_siptrunk.c: stage PRE_PROXY; repeatable keys
//! `plugin_siptrunk_name`, `plugin_siptrunk_account`,
//! `plugin_siptrunk_numbers_regex` (the counts must match, else init fails;
//! ERE, case-insensitive, see `spxutil::rules`). For a request whose
//! direction is unknown, the Request-URI user or the To user is matched
//! against each trunk's regex; for the first matching trunk, the active,
//! unexpired registration whose address of record equals the account
//! (`compare_url`: user, host, port) makes the request incoming
//! (REQTYP_INCOMING) and sends it to that registration's Contact
//! (`true_url`) host and port (5060 if absent or 0). The Request-URI is not
//! rewritten, as upstream.
//!
//! Differs: upstream overwrote the Request-URI match with the To match
//! (so only the To user counted when present); both are tried here. The
//! Contact host must be an IP address (no DNS lookup in the SIP thread).
//! Needs ABI 1.1 (`registration_get`).

use spx::{Direction, Host, Msg, Plugin, Stage, Verdict};
use spxutil::rules::Rule;
use spxutil::{name_addr_uri, same_url, SipUri};
use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr};

struct Trunk {
    name: String,
    account: String,
    numbers: Rule,
}

pub struct SipTrunk {
    trunks: Vec<Trunk>,
}

impl Plugin for SipTrunk {
    const NAME: &'static CStr = c"plugin_siptrunk";
    const DESCRIPTION: &'static CStr = c"Routes incoming SIP trunk calls to the trunk's account";
    const STAGES: u32 = Stage::PreProxy.bit();
    const ABI_MINOR: u16 = 1;

    fn init(host: &Host) -> Result<Self, String> {
        let names = host.plugin_config_all("name");
        let accounts = host.plugin_config_all("account");
        let regexes = host.plugin_config_all("numbers_regex");
        if names.len() != accounts.len() {
            return Err(format!(
                "Plugin 'plugin_siptrunk': number of trunks ({}) and number of accounts ({}) differ!",
                names.len(),
                accounts.len()
            ));
        }
        if names.len() != regexes.len() {
            return Err(format!(
                "Plugin 'plugin_siptrunk': number of trunks ({}) and number of number blocks ({}) differ!",
                names.len(),
                regexes.len()
            ));
        }
        let trunks = names
            .into_iter()
            .zip(accounts)
            .zip(regexes)
            .map(|((name, account), regex)| {
                Ok(Trunk {
                    numbers: Rule::new(&name, &regex, "")?,
                    name,
                    account,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(SipTrunk { trunks })
    }

    fn process(&mut self, host: &Host, _stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        if let Some(msg) = msg {
            if !self.trunks.is_empty()
                && msg.is_request() == Some(true)
                && msg.direction() == Direction::Unknown
            {
                self.route(host, msg);
            }
        }
        Verdict::Continue
    }
}

fn user_of(uri: Option<String>) -> Option<String> {
    uri.and_then(|u| SipUri::parse(&u)).and_then(|u| u.user)
}

impl SipTrunk {
    fn route(&self, host: &Host, msg: &mut Msg<'_>) {
        let ruri_user = user_of(
            msg.request_uri()
                .ok()
                .map(|u| String::from_utf8_lossy(u).into_owned()),
        );
        let to_user = user_of(
            msg.header("To", 0)
                .ok()
                .and_then(|to| name_addr_uri(&String::from_utf8_lossy(to)).map(str::to_string)),
        );
        let matches = |t: &&Trunk| {
            [&ruri_user, &to_user]
                .into_iter()
                .flatten()
                .any(|user| t.numbers.is_match(user))
        };
        let Some(trunk) = self.trunks.iter().find(matches) else {
            host.debug("no trunk matches");
            return;
        };
        host.debug(&format!(
            "matched trunk [{}], account [{}]",
            trunk.name, trunk.account
        ));
        let Some(account) = SipUri::parse(&trunk.account) else {
            host.warn(&format!(
                "parsing plugin_siptrunk_account [{}] failed.",
                trunk.account
            ));
            return;
        };
        let now = host.now_ms();
        let registration = host.registrations().into_iter().find(|r| {
            r.expires_ms > now && SipUri::parse(&r.aor).is_some_and(|aor| same_url(&aor, &account))
        });
        let Some(registration) = registration else {
            host.debug(&format!("account [{}] is not registered", trunk.account));
            return;
        };
        if let Err(e) = msg.set_direction(Direction::RequestIncoming) {
            host.warn(&format!("cannot set the direction: {e}"));
            return;
        }
        let Some(contact) = SipUri::parse(&registration.contact) else {
            return;
        };
        let host_part = contact.host.trim_start_matches('[').trim_end_matches(']');
        let Ok(ip) = host_part.parse::<IpAddr>() else {
            host.debug(&format!(
                "registered contact host [{}] is not an IP address: next hop left to the proxy",
                contact.host
            ));
            return;
        };
        let port = contact
            .port
            .as_deref()
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p != 0)
            .unwrap_or(5060);
        if let Err(e) = msg.set_next_hop(SocketAddr::new(ip, port)) {
            host.warn(&format!("cannot set the next hop: {e}"));
        }
    }
}

spx::declare_plugin!(SipTrunk);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};
    use spx::Registration;

    /// The (commented) example of upstream's siproxd.conf.example.
    const EXAMPLE: [(&str, &str); 3] = [
        (
            "plugin_siptrunk_name",
            "Example Trunk, 555-123100 ... 555-123112",
        ),
        ("plugin_siptrunk_account", "sip:user@sip.example.org"),
        ("plugin_siptrunk_numbers_regex", "^555123(10[0-9]|11[012])$"),
    ];

    fn registered(plugin: &Harness<SipTrunk>, aor: &str, contact: &str, expires_ms: u64) {
        plugin.host().registrations.borrow_mut().push(Registration {
            aor: aor.into(),
            contact: contact.into(),
            masq: "sip:user@198.51.100.1".into(),
            expires_ms,
        });
    }

    fn invite(ruri_user: &str, to_user: &str) -> FakeMsg {
        FakeMsg::parse(&format!(
            "INVITE sip:{ruri_user}@198.51.100.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK1\r\n\
             From: <sip:caller@provider.example>;tag=1\r\nTo: <sip:{to_user}@sip.example.org>\r\n\
             Call-ID: t1\r\nCSeq: 1 INVITE\r\n\r\n"
        ))
    }

    #[test]
    fn a_trunk_number_goes_to_the_registered_account() {
        let mut plugin = Harness::<SipTrunk>::init(&EXAMPLE).unwrap();
        registered(
            &plugin,
            "sip:other@sip.example.org",
            "sip:other@192.168.1.5",
            10_000,
        );
        registered(
            &plugin,
            "sip:user@sip.example.org",
            "sip:user@192.168.1.10:5062;line=1",
            10_000,
        );
        let mut msg = invite("555123105", "x");
        assert_eq!(
            plugin.process(Stage::PreProxy, Some(&mut msg)),
            Verdict::Continue
        );
        assert_eq!(msg.direction, Direction::RequestIncoming);
        assert_eq!(msg.next_hop, Some("192.168.1.10:5062".parse().unwrap()));
        assert_eq!(
            String::from_utf8_lossy(&msg.uri),
            "sip:555123105@198.51.100.1"
        );
        // the To user matches too; no port means 5060
        let mut plugin = Harness::<SipTrunk>::init(&EXAMPLE).unwrap();
        registered(
            &plugin,
            "sip:user@SIP.example.org:5060",
            "sip:user@192.168.1.11",
            10_000,
        );
        let mut msg = invite("trunk", "555123112");
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!(msg.next_hop, Some("192.168.1.11:5060".parse().unwrap()));
    }

    #[test]
    fn other_numbers_known_directions_and_expired_accounts_are_left_alone() {
        let mut plugin = Harness::<SipTrunk>::init(&EXAMPLE).unwrap();
        registered(
            &plugin,
            "sip:user@sip.example.org",
            "sip:user@192.168.1.10",
            10_000,
        );
        let mut other = invite("555123113", "555123099");
        plugin.process(Stage::PreProxy, Some(&mut other));
        assert_eq!(
            (other.direction, other.next_hop),
            (Direction::Unknown, None)
        );
        let mut known = invite("555123105", "x").with_direction(Direction::RequestOutgoing);
        plugin.process(Stage::PreProxy, Some(&mut known));
        assert_eq!(
            (known.direction, known.next_hop),
            (Direction::RequestOutgoing, None)
        );
        plugin.host().now_ms.set(10_000);
        let mut expired = invite("555123105", "x");
        plugin.process(Stage::PreProxy, Some(&mut expired));
        assert_eq!(
            (expired.direction, expired.next_hop),
            (Direction::Unknown, None)
        );
    }

    #[test]
    fn init_checks_the_counts_and_the_regexes() {
        let logs = Harness::<SipTrunk>::init(&EXAMPLE[..2]).err().unwrap();
        assert_eq!(
            logs,
            [
                "ERROR init failed: Plugin 'plugin_siptrunk': number of trunks (1) and number of \
              number blocks (0) differ!"
            ]
        );
        let logs = Harness::<SipTrunk>::init(&[EXAMPLE[0], EXAMPLE[2]])
            .err()
            .unwrap();
        assert_eq!(
            logs,
            [
                "ERROR init failed: Plugin 'plugin_siptrunk': number of trunks (1) and number of \
              accounts (0) differ!"
            ]
        );
        assert!(
            Harness::<SipTrunk>::init(&[]).is_ok(),
            "unconfigured: inactive"
        );
    }

    #[test]
    fn on_an_abi_1_0_host_it_sees_no_registrations() {
        let mut plugin = Harness::<SipTrunk>::init_on_abi_1_0(&EXAMPLE).unwrap();
        registered(
            &plugin,
            "sip:user@sip.example.org",
            "sip:user@192.168.1.10",
            10_000,
        );
        let mut msg = invite("555123105", "x");
        plugin.process(Stage::PreProxy, Some(&mut msg));
        assert_eq!((msg.direction, msg.next_hop), (Direction::Unknown, None));
    }
}
