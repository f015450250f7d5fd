//! Rack-aware assignment through the heartbeat: members' `client.rack` (RackId) and
//! the replica racks of the broker's topic catalog.

use std::collections::BTreeSet;

use super::consumer_group_tests::*;
use super::harness::*;
use crate::TopicCatalog;

#[test]
fn members_with_a_rack_get_the_partitions_replicated_there() {
    let mut h = harness(&[]);
    // Partition p's only replica is on rack r{p % 2}.
    let mut catalog = TopicCatalog::default();
    let racks = (0..6)
        .map(|p| BTreeSet::from([format!("r{}", p % 2)]))
        .collect();
    catalog.insert_with_racks("t", topic_id("t"), 6, racks);
    let effects = h.c.update_topics(h.now, catalog);
    h.apply(effects);
    let mut clients = vec![Client::new("a", &["t"]), Client::new("b", &["t"])];
    for (c, rack) in clients.iter_mut().zip(["r1", "r0"]) {
        let r = send_hb(&mut h, c.request("g").with_rack_id(Some(s(rack))));
        assert_eq!(r.error_code, 0, "{r:?}");
        c.epoch = r.member_epoch;
        if let Some(a) = &r.assignment {
            c.owned = a
                .topic_partitions
                .iter()
                .filter(|t| !t.partitions.is_empty())
                .map(|t| (t.topic_id, t.partitions.iter().copied().collect()))
                .collect();
        }
    }
    settle(&mut h, "g", &mut clients);
    let owned = |c: &Client| -> Vec<i32> { c.owned[&topic_id("t")].iter().copied().collect() };
    assert_eq!(owned(&clients[0]), vec![1, 3, 5], "a is on r1");
    assert_eq!(owned(&clients[1]), vec![0, 2, 4], "b is on r0");
}
