//! The admin client against a real broker.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure should panic

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use moldau_client::admin::{
    AdminClient, AlterConfigOp, ConfigResource, NewTopic, OffsetSpec, ResetTo,
};
use moldau_client::consumer::ConsumerBuilder;
use moldau_client::offsets::OffsetAndMetadata;
use moldau_client::producer::ProducerBuilder;
use moldau_client::{Error, OffsetReset, ProducerRecord, TopicPartition};

#[tokio::test]
async fn topics_configs_records_and_cluster() {
    let Some(broker) = common::start_broker(&[]) else {
        return;
    };
    let admin = AdminClient::connect(&broker.addr).unwrap();
    let topic = common::unique("adm");
    admin
        .create_topic(NewTopic::new(&topic, 3).config("retention.ms", "3600000"))
        .await
        .unwrap();
    let again = admin
        .create_topic(NewTopic::new(&topic, 3))
        .await
        .unwrap_err();
    assert_eq!(
        again.broker().map(|b| b.name.as_str()),
        Some("TOPIC_ALREADY_EXISTS")
    );
    assert!(admin.list_topics(false).await.unwrap().contains(&topic));
    let described = admin.describe_topics(&[&topic]).await.unwrap();
    assert_eq!(described[0].partitions.len(), 3);
    assert!(described[0].partitions.iter().all(|p| p.leader >= 0));

    let res = ConfigResource::Topic(topic.clone());
    let configs = admin
        .describe_configs(std::slice::from_ref(&res))
        .await
        .unwrap();
    let retention = configs[&res]
        .iter()
        .find(|e| e.name == "retention.ms")
        .unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    admin
        .alter_configs(
            &res,
            &[AlterConfigOp::Set("retention.ms".into(), "7200000".into())],
        )
        .await
        .unwrap();
    let configs = admin
        .describe_configs(std::slice::from_ref(&res))
        .await
        .unwrap();
    let retention = configs[&res]
        .iter()
        .find(|e| e.name == "retention.ms")
        .unwrap();
    assert_eq!(retention.value.as_deref(), Some("7200000"));

    admin.create_partitions(&topic, 5).await.unwrap();
    assert_eq!(admin.partitions_of(&[&topic]).await.unwrap().len(), 5);

    let producer = ProducerBuilder::new(&broker.addr).build().unwrap();
    let mut fs = Vec::new();
    for i in 0..100 {
        let rec = ProducerRecord::new(&topic, format!("v{i}")).with_partition(0);
        fs.push(producer.send(rec).await.unwrap());
    }
    for f in fs {
        f.await.unwrap();
    }
    producer.close().await.unwrap();
    let tp0 = TopicPartition::new(&topic, 0);
    let ends = admin
        .list_offsets(std::slice::from_ref(&tp0), OffsetSpec::Latest)
        .await
        .unwrap();
    assert_eq!(ends[&tp0].offset, 100);
    let low = admin
        .delete_records(&BTreeMap::from([(tp0.clone(), 40)]))
        .await
        .unwrap();
    assert_eq!(low[&tp0], 40);
    let starts = admin
        .list_offsets(std::slice::from_ref(&tp0), OffsetSpec::Earliest)
        .await
        .unwrap();
    assert_eq!(starts[&tp0].offset, 40);

    let cluster = admin.describe_cluster().await.unwrap();
    assert!(!cluster.brokers.is_empty());
    assert!(cluster.cluster_id.is_some());

    let deleted = admin.delete_topics(&[&topic]).await.unwrap();
    assert!(deleted[&topic].is_ok(), "{deleted:?}");
    let gone = admin.describe_topics(&[&topic]).await.unwrap_err();
    assert!(
        matches!(gone, Error::Broker(_) | Error::UnknownTopic(_)),
        "{gone}"
    );
}

#[tokio::test]
async fn groups_offsets_and_lag() {
    let Some(broker) = common::start_broker(&[
        "num.partitions=2",
        "group.initial.rebalance.delay.ms=0",
        "offsets.topic.num.partitions=1",
    ]) else {
        return;
    };
    let admin = AdminClient::connect(&broker.addr).unwrap();
    let topic = common::unique("lag");
    let group = common::unique("lg");
    let producer = ProducerBuilder::new(&broker.addr).build().unwrap();
    let mut fs = Vec::new();
    for i in 0..60 {
        let rec = ProducerRecord::new(&topic, "x").with_partition(i % 2);
        fs.push(producer.send(rec).await.unwrap());
    }
    for f in fs {
        f.await.unwrap();
    }
    producer.close().await.unwrap();

    // A member reads 20 records of each partition and commits, then stays.
    let c = ConsumerBuilder::new(&broker.addr)
        .group_id(&group)
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
        .build()
        .unwrap();
    c.subscribe(&[&topic]).await.unwrap();
    while c.assignment().len() < 2 {
        c.poll(Duration::from_millis(100)).await.unwrap();
    }
    let commits: BTreeMap<TopicPartition, OffsetAndMetadata> = (0..2)
        .map(|p| (TopicPartition::new(&topic, p), OffsetAndMetadata::new(20)))
        .collect();
    c.commit_offsets(&commits).await.unwrap();

    let groups = admin.list_groups().await.unwrap();
    assert!(groups.iter().any(|g| g.group_id == group), "{groups:?}");
    let described = admin.describe_groups(&[&group]).await.unwrap();
    assert_eq!(described[0].state, "Stable");
    assert_eq!(described[0].members.len(), 1);
    assert_eq!(described[0].members[0].assignment.len(), 2);
    let lag = admin.group_lag(&group).await.unwrap();
    assert_eq!(lag.values().map(|l| l.lag).sum::<i64>(), 20);

    // Offsets of an active group cannot be altered.
    let err = admin
        .reset_group_offsets(&group, &[], ResetTo::Earliest)
        .await;
    assert!(err.is_err());
    c.close().await.unwrap();

    let reset = admin
        .reset_group_offsets(&group, &[], ResetTo::ShiftBy(-5))
        .await
        .unwrap();
    assert!(reset.values().all(|&o| o == 15), "{reset:?}");
    let reset = admin
        .reset_group_offsets(&group, &[], ResetTo::Latest)
        .await
        .unwrap();
    assert!(reset.values().all(|&o| o == 30), "{reset:?}");
    let lag = admin.group_lag(&group).await.unwrap();
    assert!(lag.values().all(|l| l.lag == 0));

    admin
        .delete_group_offsets(&group, &[TopicPartition::new(&topic, 1)])
        .await
        .unwrap();
    let left = admin.list_group_offsets(&group).await.unwrap();
    assert_eq!(left.len(), 1);

    let deleted = admin.delete_groups(&[&group]).await.unwrap();
    assert!(deleted[&group].is_ok(), "{deleted:?}");
    assert!(admin.list_group_offsets(&group).await.unwrap().is_empty());
}
