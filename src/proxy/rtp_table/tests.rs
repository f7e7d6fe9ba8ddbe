//! Stream table scenarios, written as the SIP exchanges a router sees.
use super::*;
use std::net::Ipv4Addr;

const LAN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const WAN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
const PHONE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const REMOTE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 3));
const HOLD: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

fn table() -> RtpTable {
    RtpTable::new(RtpTableConfig::default()).unwrap()
}

fn key(call_id: &str, m: u16) -> StreamKey {
    StreamKey {
        call_id: call_id.into(),
        call_direction: CallDirection::Outgoing,
        client_id: "alice@192.0.2.10".into(),
        media_stream_no: m,
    }
}

/// The phone's INVITE (offer, requested by the inbound leg).
fn offer(call_id: &str, cseq: u32, addr: IpAddr, port: u16) -> MediaDescription {
    MediaDescription {
        key: key(call_id, 0),
        txn: Txn {
            cseq,
            requested_by: Leg::Inbound,
        },
        from: Leg::Inbound,
        bind_ip: WAN_IP,
        addr,
        port,
        rtcp_port: None,
        mode: MediaMode::SendRecv,
    }
}

/// The remote party's answer to the phone's INVITE `cseq`.
fn answer(call_id: &str, cseq: u32, addr: IpAddr, port: u16) -> MediaDescription {
    MediaDescription {
        from: Leg::Outbound,
        bind_ip: LAN_IP,
        ..offer(call_id, cseq, addr, port)
    }
}

fn media(addr: IpAddr, port: u16) -> Peer {
    Peer::Media {
        rtp: SocketAddr::new(addr, port),
        rtcp: SocketAddr::new(addr, port + 1),
    }
}

fn call(t: &mut RtpTable, now: Instant, call_id: &str) -> StreamId {
    let o = t.media(now, &offer(call_id, 1, PHONE, 6000)).unwrap();
    t.media(now, &answer(call_id, 1, REMOTE, 6000)).unwrap();
    t.final_response(
        call_id,
        Txn {
            cseq: 1,
            requested_by: Leg::Inbound,
        },
        200,
    );
    o.id
}

const INVITE1: Txn = Txn {
    cseq: 1,
    requested_by: Leg::Inbound,
};
const REINVITE2: Txn = Txn {
    cseq: 2,
    requested_by: Leg::Inbound,
};

#[test]
fn outgoing_call_opens_wan_port_with_offer_and_lan_port_with_answer() {
    let mut t = table();
    let now = Instant::now();
    let o = t.media(now, &offer("c1", 1, PHONE, 6000)).unwrap();
    assert_eq!(o.port, 7070);
    let id = o.id;
    let opts = LegOptions {
        dscp: 46,
        latch: true,
        dejitter_us: 0,
    };
    assert_eq!(
        o.commands,
        vec![
            RtpCommand::Open {
                id,
                leg: Leg::Outbound,
                local: SocketAddr::new(WAN_IP, 7070),
                options: opts
            },
            RtpCommand::Update {
                id,
                leg: Leg::Inbound,
                peer: media(PHONE, 6000)
            },
        ]
    );
    let a = t.media(now, &answer("c1", 1, REMOTE, 6000)).unwrap();
    assert_eq!((a.id, a.port), (id, 7072));
    let lan_opts = LegOptions {
        latch: false,
        ..opts
    };
    assert_eq!(
        a.commands,
        vec![
            RtpCommand::Open {
                id,
                leg: Leg::Inbound,
                local: SocketAddr::new(LAN_IP, 7072),
                options: lan_opts
            },
            RtpCommand::Update {
                id,
                leg: Leg::Outbound,
                peer: media(REMOTE, 6000)
            },
        ]
    );
    assert_eq!(t.pairs_in_use(), 2);
}

#[test]
fn early_media_then_same_answer_in_200_changes_nothing() {
    let mut t = table();
    let now = Instant::now();
    t.media(now, &offer("c1", 1, PHONE, 6000)).unwrap();
    let ringing = t.media(now, &answer("c1", 1, REMOTE, 6000)).unwrap();
    assert_eq!(
        ringing.commands.len(),
        2,
        "183 opens the LAN port: early media flows"
    );
    let ok = t.media(now, &answer("c1", 1, REMOTE, 6000)).unwrap();
    assert_eq!(ok.port, ringing.port);
    assert!(ok.commands.is_empty());
    assert!(t.final_response("c1", INVITE1, 200).is_empty());
    assert_eq!(t.stream_count(), 1);
}

#[test]
fn bye_closes_every_stream_of_the_call_and_frees_ports() {
    let mut t = table();
    let now = Instant::now();
    let id = call(&mut t, now, "c1");
    let other = call(&mut t, now, "c2");
    assert_eq!(t.close_call("c1"), vec![RtpCommand::Close { id }]);
    assert_eq!(t.pairs_in_use(), 2);
    assert!(t.stream(id).is_none());
    assert!(t.stream(other).is_some());
    assert!(t.close_call("c1").is_empty(), "second BYE is a no-op");
}

#[test]
fn rejected_or_cancelled_initial_invite_closes_its_streams() {
    let mut t = table();
    let now = Instant::now();
    let id = t.media(now, &offer("c1", 1, PHONE, 6000)).unwrap().id;
    assert!(t.final_response("c1", INVITE1, 180).is_empty());
    assert_eq!(
        t.final_response("c1", INVITE1, 486),
        vec![RtpCommand::Close { id }]
    );
    assert_eq!(t.pairs_in_use(), 0);

    let id = t.media(now, &offer("c2", 1, PHONE, 6000)).unwrap().id;
    t.media(now, &answer("c2", 1, REMOTE, 6000)).unwrap();
    assert_eq!(t.cancel("c2", INVITE1), vec![RtpCommand::Close { id }]);
    assert_eq!(t.pairs_in_use(), 0);
}

#[test]
fn reinvite_moves_the_remote_and_keeps_local_ports() {
    let mut t = table();
    let now = Instant::now();
    let id = call(&mut t, now, "c1");
    let before = t.stream(id).unwrap();
    // The provider's media server moves: re-INVITE from the WAN (its own CSeq 1).
    let txn = Txn {
        cseq: 1,
        requested_by: Leg::Outbound,
    };
    let moved = MediaDescription {
        txn,
        ..answer("c1", 1, REMOTE, 7000)
    };
    let out = t.media(now, &moved).unwrap();
    assert_eq!(out.port, 7072);
    assert_eq!(
        out.commands,
        vec![RtpCommand::Update {
            id,
            leg: Leg::Outbound,
            peer: media(REMOTE, 7000)
        }]
    );
    let phone_answer = MediaDescription {
        txn,
        ..offer("c1", 1, PHONE, 6000)
    };
    assert!(t.media(now, &phone_answer).unwrap().commands.is_empty());
    assert!(t.final_response("c1", txn, 200).is_empty());
    let after = t.stream(id).unwrap();
    assert_eq!(after.inbound_local, before.inbound_local);
    assert_eq!(after.outbound_local, before.outbound_local);
    assert_eq!(after.outbound_peer, Some(media(REMOTE, 7000)));
}

#[test]
fn rejected_reinvite_keeps_established_media_and_restores_the_remote() {
    let mut t = table();
    let now = Instant::now();
    let id = call(&mut t, now, "c1");
    // Phone re-INVITEs (CSeq 2) with a new port; the provider answers with a new one, then
    // the transaction fails (e.g. 491 after the fact, or a 488 relayed late).
    t.media(now, &offer("c1", 2, PHONE, 6100)).unwrap();
    t.media(now, &answer("c1", 2, REMOTE, 6200)).unwrap();
    let cmds = t.final_response("c1", REINVITE2, 488);
    assert_eq!(
        cmds,
        vec![
            RtpCommand::Update {
                id,
                leg: Leg::Inbound,
                peer: media(PHONE, 6000)
            },
            RtpCommand::Update {
                id,
                leg: Leg::Outbound,
                peer: media(REMOTE, 6000)
            },
        ]
    );
    let s = t.stream(id).unwrap();
    assert_eq!(s.inbound_peer, Some(media(PHONE, 6000)));
    assert_eq!(s.outbound_peer, Some(media(REMOTE, 6000)));
    assert_eq!(t.pairs_in_use(), 2);
}

#[test]
fn rejected_reinvite_adding_video_closes_only_the_video_stream() {
    let mut t = table();
    let now = Instant::now();
    let audio = call(&mut t, now, "c1");
    let video_offer = MediaDescription {
        key: key("c1", 1),
        ..offer("c1", 2, PHONE, 6002)
    };
    let video = t.media(now, &video_offer).unwrap().id;
    assert_ne!(video, audio);
    assert_eq!(
        t.final_response("c1", REINVITE2, 488),
        vec![RtpCommand::Close { id: video }]
    );
    assert!(t.stream(audio).is_some());
    assert_eq!(t.pairs_in_use(), 2);
}

#[test]
fn callee_reinvite_with_same_cseq_number_fails_without_killing_the_call() {
    let mut t = table();
    let now = Instant::now();
    let id = call(&mut t, now, "c1");
    let txn = Txn {
        cseq: 1,
        requested_by: Leg::Outbound,
    };
    let desc = MediaDescription {
        txn,
        ..answer("c1", 1, REMOTE, 6000)
    };
    t.media(now, &desc).unwrap();
    assert!(t.final_response("c1", txn, 491).is_empty());
    assert!(t.stream(id).is_some());
}

#[test]
fn hold_and_resume() {
    let mut t = table();
    let now = Instant::now();
    let id = call(&mut t, now, "c1");
    let hold = t.media(now, &offer("c1", 2, HOLD, 6000)).unwrap();
    assert_eq!(
        hold.commands,
        vec![RtpCommand::Update {
            id,
            leg: Leg::Inbound,
            peer: Peer::Hold
        }]
    );
    assert!(t.stream(id).unwrap().held);
    let sendonly = MediaDescription {
        mode: MediaMode::SendOnly,
        ..answer("c1", 2, REMOTE, 6000)
    };
    assert!(t.media(now, &sendonly).unwrap().commands.is_empty());
    t.final_response("c1", REINVITE2, 200);

    let resume = t.media(now, &offer("c1", 3, PHONE, 6000)).unwrap();
    assert_eq!(
        resume.commands,
        vec![RtpCommand::Update {
            id,
            leg: Leg::Inbound,
            peer: media(PHONE, 6000)
        }]
    );
    t.media(now, &answer("c1", 3, REMOTE, 6000)).unwrap();
    t.final_response(
        "c1",
        Txn {
            cseq: 3,
            requested_by: Leg::Inbound,
        },
        200,
    );
    assert!(!t.stream(id).unwrap().held);
}

#[test]
fn held_streams_outlive_rtp_timeout_but_not_the_hold_timeout() {
    let mut t = table();
    let t0 = Instant::now();
    let id = call(&mut t, t0, "c1");
    t.media(t0, &offer("c1", 2, HOLD, 6000)).unwrap();
    let rtp_timeout = Duration::from_secs(300);
    assert!(t.handle_timeout(t0 + rtp_timeout * 2).is_empty());
    let hold_end = t0 + rtp_timeout * HOLD_TIMEOUT_FACTOR;
    assert_eq!(t.poll_timeout(), Some(hold_end));
    assert_eq!(t.handle_timeout(hold_end), vec![RtpCommand::Close { id }]);
}

#[test]
fn timeout_closes_only_the_silent_stream_and_activity_defers_it() {
    let mut t = table();
    let t0 = Instant::now();
    let quiet = call(&mut t, t0, "quiet");
    let busy = call(&mut t, t0, "busy");
    assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(300)));
    t.record_activity(busy, t0 + Duration::from_secs(200));
    assert!(t.handle_timeout(t0 + Duration::from_secs(299)).is_empty());
    assert_eq!(
        t.handle_timeout(t0 + Duration::from_secs(300)),
        vec![RtpCommand::Close { id: quiet }]
    );
    assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(500)));
    // A stale report (older than what we know) must not move the deadline back.
    t.record_activity(busy, t0);
    assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(500)));
    assert_eq!(
        t.handle_timeout(t0 + Duration::from_secs(500)),
        vec![RtpCommand::Close { id: busy }]
    );
    assert_eq!(t.pairs_in_use(), 0);
}

#[test]
fn zero_rtp_timeout_never_times_out() {
    let cfg = RtpTableConfig {
        rtp_timeout: Duration::ZERO,
        ..RtpTableConfig::default()
    };
    let mut t = RtpTable::new(cfg).unwrap();
    let t0 = Instant::now();
    call(&mut t, t0, "c1");
    assert_eq!(t.poll_timeout(), None);
    assert!(t
        .handle_timeout(t0 + Duration::from_secs(86_400))
        .is_empty());
}

#[test]
fn exhaustion_is_an_error_and_leaks_nothing() {
    // 7070-7078: 5 pairs per address → 5 concurrent calls on a two-address router.
    let cfg = RtpTableConfig {
        port_high: 7078,
        ..RtpTableConfig::default()
    };
    let mut t = RtpTable::new(cfg).unwrap();
    let now = Instant::now();
    for i in 0..5 {
        call(&mut t, now, &format!("c{i}"));
    }
    let err = t.media(now, &offer("c5", 1, PHONE, 6000)).unwrap_err();
    assert!(
        matches!(
            err,
            RtpTableError::PortsExhausted {
                ip: WAN_IP,
                pairs: 5,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        t.stream_count(),
        5,
        "the failed offer left no stream behind"
    );
    assert_eq!(t.pairs_in_use(), 10);
    t.close_call("c0");
    call(&mut t, now, "c5");
    assert_eq!(t.pairs_in_use(), 10);
}

#[test]
fn lan_to_lan_call_through_the_provider_gets_two_streams() {
    let mut t = table();
    let now = Instant::now();
    let a = t.media(now, &offer("shared", 1, PHONE, 6000)).unwrap();
    // The same INVITE comes back from the provider to LAN phone B (incoming, To = bob).
    let b_key = StreamKey {
        call_direction: CallDirection::Incoming,
        client_id: "bob@192.0.2.11".into(),
        ..key("shared", 0)
    };
    let incoming = MediaDescription {
        key: b_key,
        txn: Txn {
            cseq: 1,
            requested_by: Leg::Outbound,
        },
        from: Leg::Outbound,
        bind_ip: LAN_IP,
        ..offer("shared", 1, WAN_IP, 7070)
    };
    let b = t.media(now, &incoming).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(t.close_call("shared").len(), 2);
    assert_eq!(t.pairs_in_use(), 0);
}

#[test]
fn a_rtcp_attribute_sets_the_rtcp_destination() {
    let mut t = table();
    let desc = MediaDescription {
        rtcp_port: Some(6543),
        ..offer("c1", 1, PHONE, 6000)
    };
    let out = t.media(Instant::now(), &desc).unwrap();
    let peer = Peer::Media {
        rtp: SocketAddr::new(PHONE, 6000),
        rtcp: SocketAddr::new(PHONE, 6543),
    };
    assert!(out.commands.contains(&RtpCommand::Update {
        id: out.id,
        leg: Leg::Inbound,
        peer
    }));
}

#[test]
fn codec_change_on_the_same_address_sends_no_update() {
    let mut t = table();
    let now = Instant::now();
    call(&mut t, now, "c1");
    assert!(t
        .media(now, &offer("c1", 2, PHONE, 6000))
        .unwrap()
        .commands
        .is_empty());
}

#[test]
fn malformed_input_is_refused_with_numbers() {
    let mut t = table();
    let now = Instant::now();
    let long = "x".repeat(MAX_CALL_ID_LEN + 1);
    let err = t.media(now, &offer(&long, 1, PHONE, 6000)).unwrap_err();
    assert_eq!(
        err,
        RtpTableError::CallIdTooLong {
            len: MAX_CALL_ID_LEN + 1,
            max: MAX_CALL_ID_LEN
        }
    );
    assert_eq!(
        t.media(now, &offer("c1", 1, PHONE, 0)).unwrap_err(),
        RtpTableError::PortZero
    );
    assert_eq!(t.stream_count(), 0);
    assert_eq!(t.pairs_in_use(), 0);
}

#[test]
fn ten_thousand_calls_set_up_and_torn_down_leave_no_port_allocated() {
    let cfg = RtpTableConfig {
        port_low: 10_000,
        port_high: 60_000,
        ..RtpTableConfig::default()
    };
    let mut t = RtpTable::new(cfg).unwrap();
    let now = Instant::now();
    let mut opened = 0usize;
    let mut closed = 0usize;
    for i in 0..10_000u32 {
        let call_id = format!("call-{i}");
        let cmds = t
            .media(now, &offer(&call_id, 1, PHONE, 6000))
            .unwrap()
            .commands;
        opened += cmds
            .iter()
            .filter(|c| matches!(c, RtpCommand::Open { .. }))
            .count();
        let cmds = t
            .media(now, &answer(&call_id, 1, REMOTE, 6000))
            .unwrap()
            .commands;
        opened += cmds
            .iter()
            .filter(|c| matches!(c, RtpCommand::Open { .. }))
            .count();
        // Keep ~1000 calls up at a time; end them by BYE, a 486, or a timeout in turn.
        if i >= 1000 {
            let old = format!("call-{}", i - 1000);
            closed += match i % 3 {
                0 => t.close_call(&old).len(),
                1 => t.final_response(&old, INVITE1, 486).len(),
                _ => t.cancel(&old, INVITE1).len(),
            };
        }
    }
    assert_eq!(t.stream_count(), 1000);
    closed += t.handle_timeout(now + Duration::from_secs(301)).len();
    assert_eq!(opened, 20_000);
    assert_eq!(closed, 10_000);
    assert_eq!(t.stream_count(), 0);
    assert_eq!(t.pairs_in_use(), 0);
    assert_eq!(t.poll_timeout(), None);
}

/// A tiny deterministic generator (no dependency) for the randomized scenario below.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn random_call_churn_never_leaks_or_double_releases_a_port() {
    let cfg = RtpTableConfig {
        port_low: 7000,
        port_high: 7098,
        ..RtpTableConfig::default()
    };
    let mut t = RtpTable::new(cfg).unwrap();
    let mut rng = Lcg(42);
    let t0 = Instant::now();
    let (mut closes, mut restores, mut exhausted, mut max_streams) = (0, 0, 0, 0);
    let mut count = |cmds: Vec<RtpCommand>| {
        for c in cmds {
            match c {
                RtpCommand::Close { .. } => closes += 1,
                RtpCommand::Update { .. } => restores += 1,
                RtpCommand::Open { .. } => {}
            }
        }
    };
    for step in 0..20_000u64 {
        let now = t0 + Duration::from_secs(step / 10);
        let call = format!("c{}", rng.next(40));
        let m = rng.next(2) as u16;
        let cseq = 1 + rng.next(3) as u32;
        let requested_by = if rng.next(2) == 0 {
            Leg::Inbound
        } else {
            Leg::Outbound
        };
        let txn = Txn { cseq, requested_by };
        let from = if rng.next(2) == 0 {
            Leg::Inbound
        } else {
            Leg::Outbound
        };
        let addr = [PHONE, REMOTE, HOLD][rng.next(3) as usize];
        let desc = MediaDescription {
            key: key(&call, m),
            txn,
            from,
            bind_ip: if from == Leg::Inbound { WAN_IP } else { LAN_IP },
            addr,
            port: 6000 + 2 * rng.next(4) as u16,
            ..offer(&call, cseq, addr, 6000)
        };
        match rng.next(8) {
            0..=3 => match t.media(now, &desc) {
                Err(RtpTableError::PortsExhausted { .. }) => exhausted += 1,
                other => drop(other.unwrap()),
            },
            4 => {
                let status = [200, 183, 486, 488, 491, 603][rng.next(6) as usize];
                count(t.final_response(&call, txn, status));
            }
            5 => count(t.cancel(&call, txn)),
            6 => count(t.close_call(&call)),
            _ => count(t.handle_timeout(now)),
        }
        max_streams = max_streams.max(t.stream_count());
        assert_eq!(t.pairs_in_use(), t.locals_in_use(), "step {step}");
        assert_eq!(t.release_errors(), 0, "step {step}");
    }
    for i in 0..40 {
        count(t.close_call(&format!("c{i}")));
    }
    // The scenario really exercised closing, restoring, exhaustion and a full table.
    assert!(
        closes > 1000 && restores > 100,
        "closes {closes} restores {restores}"
    );
    assert!(
        exhausted > 0 && max_streams >= 50,
        "exhausted {exhausted} max {max_streams}"
    );
    assert_eq!(t.stream_count(), 0);
    assert_eq!(t.pairs_in_use(), 0);
}

#[test]
fn single_address_router_gets_half_the_streams_like_upstream() {
    // In front of NAT with one NIC, inbound and outbound relay sockets share one address:
    // 7070-7089 gives 5 concurrent streams instead of 10 (inventory §5.6).
    let mut t = table();
    let now = Instant::now();
    let one = |d: MediaDescription| MediaDescription {
        bind_ip: LAN_IP,
        ..d
    };
    for i in 0..5 {
        let c = format!("c{i}");
        t.media(now, &one(offer(&c, 1, PHONE, 6000))).unwrap();
        t.media(now, &one(answer(&c, 1, REMOTE, 6000))).unwrap();
    }
    let err = t.media(now, &one(offer("c5", 1, PHONE, 6000))).unwrap_err();
    assert!(
        matches!(err, RtpTableError::PortsExhausted { pairs: 10, .. }),
        "{err}"
    );
}

#[test]
fn a_reinvite_restarts_the_timeout_clock() {
    let mut t = table();
    let t0 = Instant::now();
    let id = call(&mut t, t0, "c1");
    let later = t0 + Duration::from_secs(200);
    t.media(later, &offer("c1", 2, PHONE, 6000)).unwrap();
    assert!(t.handle_timeout(t0 + Duration::from_secs(300)).is_empty());
    assert_eq!(
        t.handle_timeout(later + Duration::from_secs(300)),
        vec![RtpCommand::Close { id }]
    );
}
