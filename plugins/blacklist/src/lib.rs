//! plugin_blacklist: blocks a UA (source IP + From URI) that keeps failing
//! to register, before the provider bans the whole account.
//!
//! Mirrors plugin_blacklist.c: stages VALIDATE, POST_PROXY and TIMER; keys
//! `plugin_blacklist_dbpath` (`/var/lib/siproxd/blacklist.sqlite`),
//! `_db_sync_mode` (`OFF`, the SQLite `PRAGMA synchronous`), `_simulate` (0),
//! `_duration` (3600 s, 0 = forever), `_hitcount` (10) and
//! `_register_window` (30 s). The database has upstream's tables
//! `control(action, count, time)`,
//! `blacklist(type, ip, sipuri, failcount, lastfail, lastseen)` (type 1 = a
//! manual, permanent entry) and `requests(timestamp, ip, sipuri, callid)`,
//! with unix timestamps, so existing databases and admin scripts keep working.
//! - VALIDATE (requests): a request whose (source IP, From URI) has `type=1`
//!   or `failcount > hitcount` is dropped (INFO `UAC with IP <ip> [<uri>] is
//!   blocked`; with `simulate` it only logs `… would be blocked
//!   (simulate=1)`); `lastseen` is updated; a REGISTER is recorded in
//!   `requests` with its Call-ID number (empty without an Authorization
//!   header, so the first 401 challenge never counts).
//! - POST_PROXY (REGISTER responses on their way to the UA): if the UA's
//!   request is recorded within `register_window`, a 4xx adds one to its
//!   failcount (creating the entry), a 2xx resets it, anything else updates
//!   `lastseen`.
//! - TIMER (every 12th tick, about a minute): automatic entries whose
//!   `lastseen` is older than `duration` get failcount 0 (if `duration` > 0);
//!   automatic entries with failcount 0 unseen for a day are deleted.
//!
//! Differs: the UA's address for a response is taken from its top Via
//! (`received=`, else the host), which is where siproxd sends it (upstream
//! read `next_hop`, which ABI 1 does not expose). `db_sync_mode` must be a
//! PRAGMA synchronous value (upstream pasted it into the SQL text). The
//! database is used on the SIP thread, as upstream does; keep
//! `db_sync_mode = OFF` (the default) so that writes do not wait for the disk.

use rusqlite::{params, Connection};
use spx::{Host, Msg, Plugin, Stage, Verdict};
use spxutil::{call_id_parts, config_int, name_addr_uri, via_host_port};
use std::ffi::CStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Expiry runs on every 12th TIMER tick (5 s ticks: once a minute).
const EXPIRE_EVERY_TICKS: u32 = 12;

const CREATE: &str = "\
CREATE TABLE IF NOT EXISTS control (
    action VARCHAR(32) UNIQUE, count INTEGER DEFAULT 0, time VARCHAR(32));
CREATE TABLE IF NOT EXISTS blacklist (
    type INTEGER DEFAULT 0, ip VARCHAR(16), sipuri VARCHAR(128),
    failcount INTEGER DEFAULT 0, lastfail INTEGER DEFAULT 0, lastseen INTEGER DEFAULT 0,
    CONSTRAINT unique_src UNIQUE (ip, sipuri));
CREATE TABLE IF NOT EXISTS requests (
    timestamp INTEGER DEFAULT 0, ip VARCHAR(16), sipuri VARCHAR(128), callid VARCHAR(256),
    CONSTRAINT unique_req UNIQUE (ip, sipuri));";

/// The rules on the database, with explicit times (unix seconds).
struct Db {
    conn: Connection,
    hitcount: i64,
    duration: i64,
    register_window: i64,
}

fn sql_err(e: rusqlite::Error) -> String {
    format!("SQL error: {e}")
}

impl Db {
    fn open(path: &str, sync_mode: &str) -> Result<Db, String> {
        let conn = Connection::open(path).map_err(|e| format!("Can't open database: {e}"))?;
        conn.execute_batch(CREATE).map_err(sql_err)?;
        conn.execute_batch(&format!("PRAGMA synchronous = {sync_mode};"))
            .map_err(sql_err)?;
        let db = Db {
            conn,
            hitcount: 10,
            duration: 3600,
            register_window: 30,
        };
        db.mark("bl_started").map_err(sql_err)?;
        Ok(db)
    }

    /// The informational start/stop counters of the `control` table.
    fn mark(&self, action: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO control (action, count) VALUES (?1, 0)",
            params![action],
        )?;
        self.conn.execute(
            "UPDATE control SET count = count + 1, time = datetime('now') WHERE action = ?1",
            params![action],
        )?;
        Ok(())
    }

    /// VALIDATE: is the UA blocked? Also records lastseen and REGISTERs.
    fn check(
        &mut self,
        ip: &str,
        uri: &str,
        register_call_id: Option<&str>,
        now: i64,
    ) -> rusqlite::Result<bool> {
        let tx = self.conn.transaction()?;
        let blocked: i64 = tx.query_row(
            "SELECT count(*) FROM blacklist WHERE ip=?1 AND sipuri=?2 AND (type=1 OR failcount>?3)",
            params![ip, uri, self.hitcount],
            |row| row.get(0),
        )?;
        tx.execute(
            "UPDATE OR IGNORE blacklist SET lastseen=?3 WHERE ip=?1 AND sipuri=?2",
            params![ip, uri, now],
        )?;
        if let Some(call_id) = register_call_id {
            tx.execute(
                "UPDATE OR IGNORE requests SET timestamp=?1, callid=?4 WHERE ip=?2 AND sipuri=?3",
                params![now, ip, uri, call_id],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO requests (timestamp, ip, sipuri, callid) VALUES (?1, ?2, ?3, ?4)",
                params![now, ip, uri, call_id],
            )?;
        }
        tx.commit()?;
        Ok(blocked > 0)
    }

    /// POST_PROXY: a REGISTER response for (ip, uri) with this status.
    fn update(
        &mut self,
        ip: &str,
        uri: &str,
        call_id: &str,
        status: u16,
        now: i64,
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM requests WHERE timestamp<?1",
            params![now - self.register_window],
        )?;
        let known: i64 = tx.query_row(
            "SELECT count(*) FROM requests WHERE ip=?1 AND sipuri=?2 AND callid=?3",
            params![ip, uri, call_id],
            |row| row.get(0),
        )?;
        if known > 0 {
            if (400..500).contains(&status) {
                tx.execute(
                    "INSERT OR IGNORE INTO blacklist (ip, sipuri) VALUES (?1, ?2)",
                    params![ip, uri],
                )?;
                tx.execute(
                    "UPDATE OR IGNORE blacklist SET failcount=failcount+1, lastseen=?3, lastfail=?3 \
                     WHERE type=0 AND ip=?1 AND sipuri=?2",
                    params![ip, uri, now],
                )?;
            } else if (200..300).contains(&status) {
                tx.execute(
                    "UPDATE OR IGNORE blacklist SET failcount=0, lastseen=?3 \
                     WHERE type=0 AND ip=?1 AND sipuri=?2",
                    params![ip, uri, now],
                )?;
            } else {
                tx.execute(
                    "UPDATE OR IGNORE blacklist SET lastseen=?3 WHERE ip=?1 AND sipuri=?2",
                    params![ip, uri, now],
                )?;
            }
        }
        tx.commit()
    }

    /// TIMER: expire automatic entries.
    fn expire(&mut self, now: i64) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        if self.duration > 0 {
            tx.execute(
                "UPDATE OR IGNORE blacklist SET failcount=0 \
                 WHERE type=0 AND failcount>?1 AND lastseen<?2",
                params![self.hitcount, now - self.duration],
            )?;
        }
        tx.execute(
            "DELETE FROM blacklist WHERE type=0 AND failcount=0 AND lastseen<?1",
            params![now - 86_400],
        )?;
        tx.commit()
    }
}

pub struct Blacklist {
    db: Db,
    simulate: bool,
    ticks: u32,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `PRAGMA synchronous` values; anything else is refused.
fn sync_mode(value: Option<String>) -> Result<String, String> {
    let mode = value
        .unwrap_or_else(|| "OFF".into())
        .trim()
        .to_ascii_uppercase();
    match mode.as_str() {
        "OFF" | "NORMAL" | "FULL" | "EXTRA" | "0" | "1" | "2" | "3" => Ok(mode),
        _ => Err(format!(
            "plugin_blacklist_db_sync_mode must be OFF, NORMAL, FULL or EXTRA, not '{mode}'"
        )),
    }
}

impl Plugin for Blacklist {
    const NAME: &'static CStr = c"plugin_blacklist";
    const DESCRIPTION: &'static CStr = c"Blocks UAs that keep failing to register";
    const STAGES: u32 = Stage::Validate.bit() | Stage::PostProxy.bit() | Stage::Timer.bit();

    fn init(host: &Host) -> Result<Self, String> {
        let path = host
            .plugin_config("dbpath")
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/var/lib/siproxd/blacklist.sqlite".into());
        let mode = sync_mode(host.plugin_config("db_sync_mode"))?;
        let int = |key: &str, default: i64| config_int(host.plugin_config(key).as_deref(), default);
        let mut db = Db::open(&path, &mode)?;
        db.hitcount = int("hitcount", 10);
        db.duration = int("duration", 3600);
        db.register_window = int("register_window", 30);
        host.info(&format!(
            "plugin_blacklist is initialized (sqlite version {})",
            rusqlite::version()
        ));
        Ok(Blacklist {
            db,
            simulate: int("simulate", 0) != 0,
            ticks: 0,
        })
    }

    fn process(&mut self, host: &Host, stage: Stage, msg: Option<&mut Msg<'_>>) -> Verdict {
        let result = match (stage, msg) {
            (Stage::Validate, Some(msg)) if msg.is_request() == Some(true) => {
                return self.validate(host, msg)
            }
            (Stage::PostProxy, Some(msg)) if msg.is_request() == Some(false) => {
                self.post_proxy(msg)
            }
            (Stage::Timer, _) => {
                self.ticks += 1;
                if self.ticks < EXPIRE_EVERY_TICKS {
                    return Verdict::Continue;
                }
                self.ticks = 0;
                self.db.expire(unix_now())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            host.warn(&format!("SQL error in {stage}: {e}"));
        }
        Verdict::Continue
    }

    fn fini(&mut self, host: &Host) {
        if let Err(e) = self.db.mark("bl_stopped") {
            host.error(&format!("SQL error: {e}"));
        }
        host.info("plugin_blacklist ends here");
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The From URI as libosip2 prints it (`osip_uri_to_str`).
fn from_uri(msg: &Msg<'_>) -> Option<String> {
    let from = text(msg.header("From", 0).ok()?);
    name_addr_uri(&from).map(str::to_string)
}

fn call_id_number(msg: &Msg<'_>) -> String {
    let call_id = msg.header("Call-ID", 0).map(text).unwrap_or_default();
    call_id_parts(&call_id).0.to_string()
}

/// Where a response goes: the top Via's `received=`, else its host.
fn response_target(msg: &Msg<'_>) -> Option<String> {
    let via = text(msg.header("Via", 0).ok()?);
    let received = via.split(',').next()?.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("received")
            .then(|| value.trim().to_string())
    });
    received.or_else(|| via_host_port(&via).map(|(h, _)| h.to_string()))
}

fn cseq_is_register(msg: &Msg<'_>) -> bool {
    msg.header("CSeq", 0).map(text).is_ok_and(|c| {
        c.split_whitespace()
            .nth(1)
            .is_some_and(|m| m.eq_ignore_ascii_case("REGISTER"))
    })
}

impl Blacklist {
    fn validate(&mut self, host: &Host, msg: &mut Msg<'_>) -> Verdict {
        let (Ok(source), Some(uri)) = (msg.source(), from_uri(msg)) else {
            return Verdict::Continue;
        };
        let ip = source.ip().to_string();
        let register_call_id = (msg.method().ok() == Some(&b"REGISTER"[..])).then(|| {
            if msg.header_count("Authorization") == 0 {
                String::new()
            } else {
                call_id_number(msg)
            }
        });
        match self
            .db
            .check(&ip, &uri, register_call_id.as_deref(), unix_now())
        {
            Ok(true) if self.simulate => {
                host.info(&format!(
                    "UAC with IP {ip} [{uri}] would be blocked (simulate=1)"
                ));
                Verdict::Continue
            }
            Ok(true) => {
                host.info(&format!("UAC with IP {ip} [{uri}] is blocked"));
                Verdict::Drop
            }
            Ok(false) => Verdict::Continue,
            Err(e) => {
                host.warn(&format!("SQL error in VALIDATE: {e}"));
                Verdict::Continue
            }
        }
    }

    fn post_proxy(&mut self, msg: &mut Msg<'_>) -> rusqlite::Result<()> {
        if !cseq_is_register(msg) {
            return Ok(());
        }
        let (Some(ip), Some(uri)) = (response_target(msg), from_uri(msg)) else {
            return Ok(());
        };
        let call_id = call_id_number(msg);
        self.db
            .update(&ip, &uri, &call_id, msg.status(), unix_now())
    }
}

spx::declare_plugin!(Blacklist);

#[cfg(test)]
mod tests {
    use super::*;
    use spx::testing::{FakeMsg, Harness};

    fn temp_db(name: &str) -> String {
        let path = std::env::temp_dir().join(format!(
            "plugin_blacklist-{}-{name}.sqlite",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        path.display().to_string()
    }

    fn db(name: &str) -> Db {
        let mut db = Db::open(&temp_db(name), "OFF").unwrap();
        db.hitcount = 2;
        db
    }

    const IP: &str = "192.168.1.10";
    const URI: &str = "sip:alice@sip.example.org";

    fn failcount(db: &Db) -> Option<i64> {
        db.conn
            .query_row(
                "SELECT failcount FROM blacklist WHERE ip=?1 AND sipuri=?2",
                params![IP, URI],
                |r| r.get(0),
            )
            .ok()
    }

    #[test]
    fn failures_within_the_window_count_and_block_above_hitcount() {
        let mut db = db("count");
        for (i, now) in [1000, 1010, 1020].into_iter().enumerate() {
            assert!(
                !db.check(IP, URI, Some("reg1"), now).unwrap(),
                "attempt {i}"
            );
            db.update(IP, URI, "reg1", 403, now + 1).unwrap();
        }
        assert_eq!(failcount(&db), Some(3));
        assert!(
            db.check(IP, URI, None, 1030).unwrap(),
            "3 > hitcount 2: blocked"
        );
        assert!(
            !db.check("192.168.1.11", URI, None, 1030).unwrap(),
            "other IP"
        );
        // a success resets the count
        db.update(IP, URI, "reg1", 200, 1031).unwrap();
        assert_eq!(failcount(&db), Some(0));
        assert!(!db.check(IP, URI, None, 1032).unwrap());
    }

    #[test]
    fn unknown_or_stale_requests_and_unauthenticated_challenges_do_not_count() {
        let mut db = db("window");
        db.check(IP, URI, Some(""), 1000).unwrap(); // REGISTER without Authorization
        db.update(IP, URI, "reg1", 401, 1001).unwrap();
        assert_eq!(failcount(&db), None, "the first challenge never counts");
        db.check(IP, URI, Some("reg1"), 1000).unwrap();
        db.update(IP, URI, "reg1", 403, 1031).unwrap();
        assert_eq!(
            failcount(&db),
            None,
            "31 s after the request: outside the 30 s window"
        );
    }

    #[test]
    fn manual_entries_block_forever_and_automatic_ones_expire() {
        let mut db = db("expire");
        db.conn
            .execute(
                "INSERT INTO blacklist (type, ip, sipuri) VALUES (1, ?1, ?2)",
                params![IP, URI],
            )
            .unwrap();
        assert!(db.check(IP, URI, None, 1000).unwrap());
        db.conn
            .execute(
                "INSERT INTO blacklist (ip, sipuri, failcount, lastseen) VALUES ('10.0.0.9', ?1, 5, 1000)",
                params![URI],
            )
            .unwrap();
        assert!(db.check("10.0.0.9", URI, None, 1000).unwrap());
        db.expire(1000 + 3599).unwrap();
        assert!(
            db.check("10.0.0.9", URI, None, 1000).unwrap(),
            "not yet expired"
        );
        db.expire(1000 + 3601).unwrap();
        assert!(
            !db.check("10.0.0.9", URI, None, 1000).unwrap(),
            "expired after duration"
        );
        db.expire(1000 + 86_401).unwrap();
        let rows: i64 = db
            .conn
            .query_row("SELECT count(*) FROM blacklist", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            rows, 1,
            "the cleared automatic entry is deleted after a day, the manual one stays"
        );
    }

    fn register(auth: bool) -> FakeMsg {
        FakeMsg::parse(&format!(
            "REGISTER sip:sip.example.org SIP/2.0\r\nVia: SIP/2.0/UDP {IP}:5060;branch=z9hG4bK1\r\n\
             From: <{URI}>;tag=1\r\nTo: <{URI}>\r\nCall-ID: reg1@{IP}\r\nCSeq: 2 REGISTER\r\n{}\r\n",
            if auth { "Authorization: Digest username=\"alice\"\r\n" } else { "" }
        ))
        .with_source(&format!("{IP}:5060"))
    }

    fn forbidden() -> FakeMsg {
        FakeMsg::parse(&format!(
            "SIP/2.0 403 Forbidden\r\nVia: SIP/2.0/UDP 10.9.9.9:5060;received={IP};branch=z9hG4bK1\r\n\
             From: <{URI}>;tag=1\r\nTo: <{URI}>;tag=2\r\nCall-ID: reg1@{IP}\r\nCSeq: 2 REGISTER\r\n\r\n"
        ))
    }

    #[test]
    fn the_plugin_drops_a_ua_after_hitcount_failures() {
        let path = temp_db("plugin");
        let mut plugin = Harness::<Blacklist>::init(&[
            ("plugin_blacklist_dbpath", &path),
            ("plugin_blacklist_hitcount", "1"),
        ])
        .unwrap();
        assert_eq!(
            plugin.logs(),
            [format!(
                "INFO plugin_blacklist is initialized (sqlite version {})",
                rusqlite::version()
            )]
        );
        for _ in 0..2 {
            assert_eq!(
                plugin.process(Stage::Validate, Some(&mut register(true))),
                Verdict::Continue
            );
            assert_eq!(
                plugin.process(Stage::PostProxy, Some(&mut forbidden())),
                Verdict::Continue
            );
        }
        assert_eq!(
            plugin.process(Stage::Validate, Some(&mut register(true))),
            Verdict::Drop
        );
        assert_eq!(
            plugin.logs(),
            [format!("INFO UAC with IP {IP} [{URI}] is blocked")]
        );
        assert_eq!(plugin.fini(), ["INFO plugin_blacklist ends here"]);
        let conn = Connection::open(&path).unwrap();
        let (started, stopped): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count FROM control WHERE action='bl_started'), \
                 (SELECT count FROM control WHERE action='bl_stopped')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((started, stopped), (1, 1));
    }

    #[test]
    fn simulate_only_logs() {
        let path = temp_db("simulate");
        let mut plugin = Harness::<Blacklist>::init(&[
            ("plugin_blacklist_dbpath", &path),
            ("plugin_blacklist_hitcount", "0"),
            ("plugin_blacklist_simulate", "1"),
        ])
        .unwrap();
        plugin.process(Stage::Validate, Some(&mut register(true)));
        plugin.process(Stage::PostProxy, Some(&mut forbidden()));
        plugin.logs();
        assert_eq!(
            plugin.process(Stage::Validate, Some(&mut register(false))),
            Verdict::Continue
        );
        assert_eq!(
            plugin.logs(),
            [format!(
                "INFO UAC with IP {IP} [{URI}] would be blocked (simulate=1)"
            )]
        );
    }

    #[test]
    fn bad_settings_fail_init() {
        let logs = Harness::<Blacklist>::init(&[
            ("plugin_blacklist_dbpath", &temp_db("mode")),
            ("plugin_blacklist_db_sync_mode", "OFF; DROP TABLE x"),
        ])
        .err()
        .unwrap();
        assert_eq!(
            logs,
            ["ERROR init failed: plugin_blacklist_db_sync_mode must be OFF, NORMAL, FULL or EXTRA, \
              not 'OFF; DROP TABLE X'"]
        );
        let logs =
            Harness::<Blacklist>::init(&[("plugin_blacklist_dbpath", "/nonexistent-dir/x.sqlite")])
                .err()
                .unwrap();
        assert_eq!(logs.len(), 1);
        assert!(
            logs[0].starts_with("ERROR init failed: Can't open database: "),
            "{logs:?}"
        );
    }
}
