//! `desc` / `pattern` / `replace` rule lists of plugin_regex and
//! plugin_regex_body, compiled with regex-lite (crates.md §9).
//!
//! Mirrors plugin_regex.c / plugin_regex_body.c: the three repeatable keys
//! must have the same number of lines (else init fails); patterns are POSIX
//! ERE compiled with `REG_EXTENDED|REG_ICASE` (here: regex-lite with `(?i)`
//! prepended); the replacement may use back-references `\1`…`\9`
//! (translated to `${1}`…`${9}`; a literal `$` is kept literal). A pattern
//! with a group replaces its first match only; a pattern without groups
//! replaces every match (`rreplace`'s `sub >= 0` rule).
//! Differs: leftmost-first instead of POSIX leftmost-longest matching (only
//! ambiguous alternations differ); no 1024/2048-byte workspace limit.

use regex_lite::Regex;

/// One compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub desc: String,
    pub pattern: String,
    regex: Regex,
    /// The replacement in regex-lite syntax.
    replace: String,
}

/// `\N` → `${N}`, `$` → `$$` (regex-lite's replacement syntax).
pub fn translate_replacement(replace: &str) -> String {
    let mut out = String::with_capacity(replace.len() + 8);
    let mut chars = replace.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&d @ '1'..='9') => {
                    chars.next();
                    out.push_str(&format!("${{{d}}}"));
                }
                _ => out.push('\\'),
            },
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

impl Rule {
    pub fn new(desc: &str, pattern: &str, replace: &str) -> Result<Rule, String> {
        let regex = Regex::new(&format!("(?i){pattern}"))
            .map_err(|e| format!("Regular expression [{pattern}] failed to compile: {e}"))?;
        Ok(Rule {
            desc: desc.to_string(),
            pattern: pattern.to_string(),
            regex,
            replace: translate_replacement(replace),
        })
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// Upstream's `rreplace`: with a group, the first match; else every match.
    /// `limit_with_groups` > 1 replaces that many matches of a grouped pattern.
    pub fn replace(&self, text: &str, limit_with_groups: usize) -> String {
        if self.regex.captures_len() > 1 {
            self.regex
                .replacen(text, limit_with_groups, self.replace.as_str())
                .into_owned()
        } else {
            self.regex
                .replace_all(text, self.replace.as_str())
                .into_owned()
        }
    }
}

/// Reads and compiles `<prefix>_desc`, `_pattern`, `_replace` lines.
/// `Err` (for init) if the counts differ or a pattern does not compile.
pub fn compile_rules(
    plugin: &str,
    desc: &[String],
    pattern: &[String],
    replace: &[String],
) -> Result<Vec<Rule>, String> {
    if pattern.len() != replace.len() {
        return Err(format!(
            "Plugin '{plugin}': number of search patterns ({}) and number of replacement patterns ({}) differ!",
            pattern.len(),
            replace.len()
        ));
    }
    if pattern.len() != desc.len() {
        return Err(format!(
            "Plugin '{plugin}': number of search patterns ({}) and number of descriptions ({}) differ!",
            pattern.len(),
            desc.len()
        ));
    }
    desc.iter()
        .zip(pattern)
        .zip(replace)
        .map(|((d, p), r)| Rule::new(d, p, r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, replace: &str) -> Rule {
        Rule::new("t", pattern, replace).unwrap()
    }

    #[test]
    fn the_example_config_rules_rewrite_like_upstream() {
        assert_eq!(
            rule("^(sips?:)00", "\\1+").replace("sip:0041791234567@p.ch", 1),
            "sip:+41791234567@p.ch"
        );
        assert_eq!(
            rule("^(sips?:)00", "\\1+").replace("SIPS:0049@x", 1),
            "SIPS:+49@x"
        );
        assert_eq!(
            rule("^(sips?:)01", "\\1+a").replace("sip:0123@x", 1),
            "sip:+a23@x"
        );
        assert_eq!(
            rule("^(sips?:)01", "\\1:001").replace("sip:0123@x", 1),
            "sip::00123@x"
        );
        assert!(!rule("^(sips?:)00", "\\1+").is_match("sip:41791234567@p.ch"));
    }

    #[test]
    fn groupless_patterns_replace_every_match_grouped_only_the_first() {
        assert_eq!(
            rule("1.2.3.4", "host.domain.com").replace("c=IN IP4 1.2.3.4\r\no=x 1.2.3.4", 1),
            "c=IN IP4 host.domain.com\r\no=x host.domain.com"
        );
        assert_eq!(rule("(a)", "[\\1]").replace("aXa", 1), "[a]Xa");
        assert_eq!(rule("(a)", "[\\1]").replace("aXa", 8), "[a]X[a]");
    }

    #[test]
    fn replacement_syntax_is_translated() {
        assert_eq!(translate_replacement("\\1+$x\\0\\"), "${1}+$$x\\0\\");
        assert_eq!(rule("(b)", "$\\1").replace("abc", 1), "a$bc");
    }

    #[test]
    fn counts_must_match_and_patterns_compile() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            compile_rules("plugin_regex", &s(&["a"]), &s(&["x"]), &s(&[])).unwrap_err(),
            "Plugin 'plugin_regex': number of search patterns (1) and number of replacement patterns (0) differ!"
        );
        assert_eq!(
            compile_rules("plugin_regex", &s(&[]), &s(&["x"]), &s(&["y"])).unwrap_err(),
            "Plugin 'plugin_regex': number of search patterns (1) and number of descriptions (0) differ!"
        );
        assert!(
            compile_rules("plugin_regex", &s(&["a"]), &s(&["(x"]), &s(&["y"]))
                .unwrap_err()
                .starts_with("Regular expression [(x] failed to compile: ")
        );
    }
}
