//! `__consumer_offsets` records: the key and value decoders, the dump tool's record
//! description, and a coordinator replaying the records (as after a restart) and then
//! answering ListGroups, DescribeGroups and OffsetFetch for every group they name.
//! Input: records as (u16 key length, key, u16 value length or 0xffff for a tombstone,
//! value). Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moldau_coordinator::records::{GroupMetadataValue, OffsetCommitValue, RecordKey};
use moldau_coordinator::{
    describe_record, GroupConfig, GroupCoordinator, GroupRequest, ReplyId, RequestContext,
    SeededMemberIds,
};
use moldau_protocol::kafka::messages::{
    DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetFetchRequest,
};
use moldau_protocol::kafka::protocol::StrBytes;

/// Splits the input into records; stops at the first incomplete one.
fn records(mut data: &[u8]) -> Vec<(&[u8], Option<&[u8]>)> {
    let mut out = Vec::new();
    loop {
        let Some(len) = data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize) else {
            break;
        };
        let Some(key) = data.get(2..2 + len) else { break };
        let rest = &data[2 + len..];
        let Some(vlen) = rest.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            break;
        };
        if vlen == u16::MAX {
            out.push((key, None));
            data = &rest[2..];
            continue;
        }
        let Some(value) = rest.get(2..2 + vlen as usize) else { break };
        out.push((key, Some(value)));
        data = &rest[2 + vlen as usize..];
    }
    out
}

fn context(version: i16) -> RequestContext {
    RequestContext {
        client_id: "fuzz".into(),
        client_host: "/127.0.0.1".into(),
        api_version: version,
        topic_describe: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let config = GroupConfig {
        offsets_topic_num_partitions: 1,
        ..GroupConfig::default()
    };
    let mut c = GroupCoordinator::with_member_ids(config, Box::new(SeededMemberIds::new(1)));
    let now = 1_000_000;
    c.begin_loading(0);
    let mut groups = Vec::new();
    for (offset, (key, value)) in records(data).into_iter().enumerate() {
        let _ = describe_record(key, value);
        if let Some(v) = value {
            let _ = OffsetCommitValue::decode(v);
            let _ = GroupMetadataValue::decode(v);
        }
        match RecordKey::decode(key) {
            Ok(RecordKey::OffsetCommit(k)) => groups.push(k.group),
            Ok(RecordKey::GroupMetadata(k)) => groups.push(k.group),
            _ => {}
        }
        c.load_record(0, offset as i64, Some(key), value);
    }
    let _ = c.finish_loading(0, now);
    groups.sort();
    groups.dedup();
    let ids: Vec<GroupId> = groups
        .iter()
        .map(|g| GroupId(StrBytes::from_string(g.clone())))
        .collect();
    let mut reply = 0;
    let mut ask = |c: &mut GroupCoordinator, version: i16, request: GroupRequest| {
        reply += 1;
        let _ = c.handle(now, context(version), ReplyId(reply), request);
    };
    ask(&mut c, 4, GroupRequest::ListGroups(ListGroupsRequest::default()));
    ask(
        &mut c,
        5,
        GroupRequest::DescribeGroups(DescribeGroupsRequest::default().with_groups(ids.clone())),
    );
    for id in ids {
        ask(
            &mut c,
            7,
            GroupRequest::OffsetFetch(OffsetFetchRequest::default().with_group_id(id)),
        );
    }
    // Sessions of replayed members expire; rebalances run.
    let _ = c.tick(now + 600_000);
});
