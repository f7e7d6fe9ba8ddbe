//! SIP URIs the way libosip2 splits them for the plugins: scheme, user,
//! password, host, port, `;params`, `?headers`.

use std::fmt;

/// A parsed `sip:`/`sips:` (or other scheme) URI. `params` keeps its leading
/// `;` and `headers` its leading `?`, verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: Option<String>,
    pub params: String,
    pub headers: String,
}

impl SipUri {
    /// Parses `scheme:[user[:password]@]host[:port][;params][?headers]`.
    /// `None` without a scheme or host.
    pub fn parse(text: &str) -> Option<SipUri> {
        let text = text.trim();
        let (scheme, rest) = text.split_once(':')?;
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        {
            return None;
        }
        let (core, headers) = match rest.find('?') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let (userinfo, hostpart) = match core.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, core),
        };
        let (hostport, params) = match hostpart.find(';') {
            Some(at) => hostpart.split_at(at),
            None => (hostpart, ""),
        };
        let (host, port) = split_hostport(hostport);
        if host.is_empty() {
            return None;
        }
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(info.to_string()), None),
            },
            None => (None, None),
        };
        Some(SipUri {
            scheme: scheme.to_string(),
            user,
            password,
            host: host.to_string(),
            port: port.map(str::to_string),
            params: params.to_string(),
            headers: headers.to_string(),
        })
    }

    /// The value of a `;name=value` parameter (name case-insensitive);
    /// `Some("")` for a parameter without value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.split(';').skip(1).find_map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
}

fn split_hostport(hostport: &str) -> (&str, Option<&str>) {
    if let Some(rest) = hostport.strip_prefix('[') {
        if let Some((inside, after)) = rest.split_once(']') {
            let host = hostport.get(..inside.len() + 2).unwrap_or(hostport);
            return (host, after.strip_prefix(':'));
        }
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme)?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(password) = &self.password {
                write!(f, ":{password}")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = &self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}{}", self.params, self.headers)
    }
}

/// The URI inside a From/To/Contact value: between `<` and `>` if present,
/// else up to the first `;` (which starts header parameters such as `tag`).
pub fn name_addr_uri(value: &str) -> Option<&str> {
    match span_of_uri(value) {
        Some((start, end)) => value.get(start..end).map(str::trim),
        None => None,
    }
}

/// The value with its URI replaced (display name and header parameters kept).
pub fn replace_name_addr_uri(value: &str, uri: &str) -> Option<String> {
    let (start, end) = span_of_uri(value)?;
    Some(format!("{}{uri}{}", value.get(..start)?, value.get(end..)?))
}

fn span_of_uri(value: &str) -> Option<(usize, usize)> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in value.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'<' if !quoted => {
                let end = value.get(i + 1..)?.find('>')? + i + 1;
                return Some((i + 1, end));
            }
            _ => {}
        }
    }
    let lead = value.len() - value.trim_start().len();
    let end = value.find(';').unwrap_or(value.len());
    let end = lead + value.get(lead..end)?.trim_end().len();
    (end > lead).then_some((lead, end))
}

/// A Call-ID split as libosip2 does: `number@host` (host `None` without `@`).
pub fn call_id_parts(call_id: &str) -> (&str, Option<&str>) {
    match call_id.trim().split_once('@') {
        Some((number, host)) => (number, Some(host)),
        None => (call_id.trim(), None),
    }
}

/// siproxd's `compare_url` for two URIs: same user (exact), same host
/// (case-insensitive) and same port (missing = 5060). The scheme is ignored.
pub fn same_url(a: &SipUri, b: &SipUri) -> bool {
    let port = |u: &SipUri| {
        u.port
            .as_deref()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(5060)
    };
    a.user == b.user && a.host.eq_ignore_ascii_case(&b.host) && port(a) == port(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_a_full_uri() {
        let uri =
            SipUri::parse("sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=x").unwrap();
        assert_eq!(uri.scheme, "sips");
        assert_eq!(uri.user.as_deref(), Some("alice"));
        assert_eq!(uri.password.as_deref(), Some("pw"));
        assert_eq!(uri.host, "[2001:db8::1]");
        assert_eq!(uri.port.as_deref(), Some("5061"));
        assert_eq!(uri.param("TRANSPORT"), Some("tcp"));
        assert_eq!(uri.param("lr"), Some(""));
        assert_eq!(uri.param("maddr"), None);
        assert_eq!(
            uri.to_string(),
            "sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=x"
        );
    }

    #[test]
    fn a_uri_without_user_or_host_is_handled() {
        let uri = SipUri::parse("sip:example.org").unwrap();
        assert_eq!(
            (uri.user, uri.host.as_str(), uri.port),
            (None, "example.org", None)
        );
        assert_eq!(SipUri::parse("sip:"), None);
        assert_eq!(SipUri::parse("nonsense"), None);
    }

    #[test]
    fn name_addr_uri_finds_the_uri() {
        assert_eq!(
            name_addr_uri(r#""Doe, <J>" <sip:j@x;lr>;tag=1"#),
            Some("sip:j@x;lr")
        );
        assert_eq!(name_addr_uri(" sip:j@x ;tag=1"), Some("sip:j@x"));
        assert_eq!(name_addr_uri("<sip:j@x"), None);
        assert_eq!(
            replace_name_addr_uri("Bob <sip:b@y>;tag=2", "sip:c@z").as_deref(),
            Some("Bob <sip:c@z>;tag=2")
        );
        assert_eq!(
            replace_name_addr_uri("sip:b@y;tag=2", "sip:c@z").as_deref(),
            Some("sip:c@z;tag=2")
        );
    }

    #[test]
    fn call_id_splits_at_the_at_sign() {
        assert_eq!(call_id_parts("abc@host"), ("abc", Some("host")));
        assert_eq!(call_id_parts("abc"), ("abc", None));
    }
}
