//! The test network itself: what the other end-to-end tests rely on.

mod common;

use common::netns::*;

/// The router does not forward: a LAN host cannot reach the WAN except
/// through a daemon on the router. Both sides reach the router.
#[test]
fn lan_and_wan_meet_only_at_the_router() {
    if !can_run("lan_and_wan_meet_only_at_the_router") {
        return;
    }
    let lab = Lab::new();
    let ping = |ns: &str, to: &str| {
        lab.command(ns, &["ping", "-c", "1", "-W", "1", to])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    assert!(ping(&lab.lan, ROUTER_LAN), "LAN reaches the router");
    assert!(ping(&lab.wan, ROUTER_WAN), "WAN reaches the router");
    assert!(
        !ping(&lab.lan, PROVIDER),
        "LAN must not reach the WAN directly"
    );
}

/// Namespaces are removed when the lab goes away, also after a panic.
#[test]
fn namespaces_are_removed_even_when_a_test_panics() {
    if !can_run("namespaces_are_removed_even_when_a_test_panics") {
        return;
    }
    let names = std::panic::catch_unwind(|| {
        let lab = Lab::new();
        let names = vec![lab.lan.clone(), lab.router.clone(), lab.wan.clone()];
        std::panic::panic_any(names);
    })
    .unwrap_err();
    let names = names.downcast::<Vec<String>>().unwrap();
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for name in names.iter() {
        assert!(!list.contains(name.as_str()), "{name} left behind:\n{list}");
    }
}
