"""Kafka requests kafka-python has no (usable) class for, written with its protocol
types, so the ACL and log-directory tests can send them through KafkaAdminClient.send_request as an
authenticated principal: DescribeLogDirs v1, AlterReplicaLogDirs v1, OffsetDelete v0
and CreateTopics v5 (whose answer carries configs and, as tagged field 0, the
topic's config error code), ConsumerGroupHeartbeat v0, ConsumerGroupDescribe v0."""

from kafka.protocol.api import Request, Response
from kafka.protocol.types import (Array, Boolean, CompactArray, CompactString, Int8,
                                  Int16, Int32, Int64, Schema, String, TaggedFields)


class DescribeLogDirsResponse_v1(Response):
    API_KEY = 35
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", Array(
            ("error_code", Int16),
            ("log_dir", String("utf-8")),
            ("topics", Array(
                ("name", String("utf-8")),
                ("partitions", Array(
                    ("partition_index", Int32),
                    ("partition_size", Int64),
                    ("offset_lag", Int64),
                    ("is_future_key", Boolean))))))))


class DescribeLogDirsRequest_v1(Request):
    """topics None asks for every partition."""
    API_KEY = 35
    API_VERSION = 1
    RESPONSE_TYPE = DescribeLogDirsResponse_v1
    SCHEMA = Schema(
        ("topics", Array(
            ("topic", String("utf-8")),
            ("partitions", Array(Int32)))))


class AlterReplicaLogDirsResponse_v1(Response):
    API_KEY = 34
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", Array(
            ("topic_name", String("utf-8")),
            ("partitions", Array(
                ("partition_index", Int32),
                ("error_code", Int16))))))


class AlterReplicaLogDirsRequest_v1(Request):
    API_KEY = 34
    API_VERSION = 1
    RESPONSE_TYPE = AlterReplicaLogDirsResponse_v1
    SCHEMA = Schema(
        ("dirs", Array(
            ("path", String("utf-8")),
            ("topics", Array(
                ("name", String("utf-8")),
                ("partitions", Array(Int32)))))))


class OffsetDeleteResponse_v0(Response):
    API_KEY = 47
    API_VERSION = 0
    SCHEMA = Schema(
        ("error_code", Int16),
        ("throttle_time_ms", Int32),
        ("topics", Array(
            ("name", String("utf-8")),
            ("partitions", Array(
                ("partition_index", Int32),
                ("error_code", Int16))))))


class OffsetDeleteRequest_v0(Request):
    API_KEY = 47
    API_VERSION = 0
    RESPONSE_TYPE = OffsetDeleteResponse_v0
    SCHEMA = Schema(
        ("group_id", String("utf-8")),
        ("topics", Array(
            ("name", String("utf-8")),
            ("partitions", Array(Int32)))))  # each partition: just its index


class CreateTopicsResponse_v5(Response):
    API_KEY = 19
    API_VERSION = 5
    FLEXIBLE_VERSION = True
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("topics", CompactArray(
            ("name", CompactString("utf-8")),
            ("error_code", Int16),
            ("error_message", CompactString("utf-8")),
            ("num_partitions", Int32),
            ("replication_factor", Int16),
            ("configs", CompactArray(
                ("name", CompactString("utf-8")),
                ("value", CompactString("utf-8")),
                ("read_only", Boolean),
                ("config_source", Int8),
                ("is_sensitive", Boolean),
                ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("tags", TaggedFields))


class CreateTopicsRequest_v5(Request):
    API_KEY = 19
    API_VERSION = 5
    FLEXIBLE_VERSION = True
    RESPONSE_TYPE = CreateTopicsResponse_v5
    SCHEMA = Schema(
        ("topics", CompactArray(
            ("name", CompactString("utf-8")),
            ("num_partitions", Int32),
            ("replication_factor", Int16),
            ("assignments", CompactArray(
                ("partition_index", Int32),
                ("broker_ids", CompactArray(Int32)),
                ("tags", TaggedFields))),
            ("configs", CompactArray(
                ("name", CompactString("utf-8")),
                ("value", CompactString("utf-8")),
                ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("timeout_ms", Int32),
        ("validate_only", Boolean),
        ("tags", TaggedFields))


def create_topic_v5(name):
    return CreateTopicsRequest_v5(topics=[(name, 1, 1, [], [], {})], timeout_ms=30000,
                                  validate_only=False, tags={})


class ConsumerGroupHeartbeatResponse_v0(Response):
    """Decoded up to the assignment's presence byte (-1: none, as on an error)."""
    API_KEY = 68
    API_VERSION = 0
    FLEXIBLE_VERSION = True
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", CompactString("utf-8")),
        ("member_id", CompactString("utf-8")),
        ("member_epoch", Int32),
        ("heartbeat_interval_ms", Int32),
        ("assignment_present", Int8))


class ConsumerGroupHeartbeatRequest_v0(Request):
    API_KEY = 68
    API_VERSION = 0
    FLEXIBLE_VERSION = True
    RESPONSE_TYPE = ConsumerGroupHeartbeatResponse_v0
    SCHEMA = Schema(
        ("group_id", CompactString("utf-8")),
        ("member_id", CompactString("utf-8")),
        ("member_epoch", Int32),
        ("instance_id", CompactString("utf-8")),
        ("rack_id", CompactString("utf-8")),
        ("rebalance_timeout_ms", Int32),
        ("subscribed_topic_names", CompactArray(CompactString("utf-8"))),
        ("server_assignor", CompactString("utf-8")),
        # Owned partitions: empty on a join (a topic id would be 16 bytes).
        ("topic_partitions", CompactArray(
            ("topic_id_high", Int64),
            ("topic_id_low", Int64),
            ("partitions", CompactArray(Int32)),
            ("tags", TaggedFields))),
        ("tags", TaggedFields))


def join_heartbeat(group, topics):
    """The first heartbeat of a new member subscribing to `topics`."""
    return ConsumerGroupHeartbeatRequest_v0(
        group_id=group, member_id="", member_epoch=0, instance_id=None, rack_id=None,
        rebalance_timeout_ms=30000, subscribed_topic_names=list(topics),
        server_assignor=None, topic_partitions=[], tags={})


_ASSIGNMENT = (
    ("topic_partitions", CompactArray(
        ("topic_id_high", Int64),
        ("topic_id_low", Int64),
        ("topic_name", CompactString("utf-8")),
        ("partitions", CompactArray(Int32)),
        ("tags", TaggedFields))),
    ("tags", TaggedFields))


class ConsumerGroupDescribeResponse_v0(Response):
    API_KEY = 69
    API_VERSION = 0
    FLEXIBLE_VERSION = True
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("groups", CompactArray(
            ("error_code", Int16),
            ("error_message", CompactString("utf-8")),
            ("group_id", CompactString("utf-8")),
            ("group_state", CompactString("utf-8")),
            ("group_epoch", Int32),
            ("assignment_epoch", Int32),
            ("assignor_name", CompactString("utf-8")),
            ("members", CompactArray(
                ("member_id", CompactString("utf-8")),
                ("instance_id", CompactString("utf-8")),
                ("rack_id", CompactString("utf-8")),
                ("member_epoch", Int32),
                ("client_id", CompactString("utf-8")),
                ("client_host", CompactString("utf-8")),
                ("subscribed_topic_names", CompactArray(CompactString("utf-8"))),
                ("subscribed_topic_regex", CompactString("utf-8")),
                ("assignment", Schema(*_ASSIGNMENT)),
                ("target_assignment", Schema(*_ASSIGNMENT)),
                ("tags", TaggedFields))),
            ("authorized_operations", Int32),
            ("tags", TaggedFields))),
        ("tags", TaggedFields))


class ConsumerGroupDescribeRequest_v0(Request):
    API_KEY = 69
    API_VERSION = 0
    FLEXIBLE_VERSION = True
    RESPONSE_TYPE = ConsumerGroupDescribeResponse_v0
    SCHEMA = Schema(
        ("group_ids", CompactArray(CompactString("utf-8"))),
        ("include_authorized_operations", Boolean),
        ("tags", TaggedFields))


def consumer_group_describe(*groups):
    return ConsumerGroupDescribeRequest_v0(group_ids=list(groups),
                                           include_authorized_operations=False, tags={})
