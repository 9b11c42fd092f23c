"""Drives a kzoo cluster with kafka-python (Debian's python3-kafka): its
KafkaAdminClient creates, describes and deletes a topic, describes configs,
and lists and describes a group that its KafkaConsumer joined.

Usage: kafka_python_admin.py BOOTSTRAP TOPIC GROUP
Prints one JSON object, as steps.Steps describes.
"""

import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from steps import Steps, until

RECORDS = 12


def configs(response):
    """The entries of the one resource of a DescribeConfigs v1+ response."""
    (resource,) = response.resources
    error_code, error_message, _, _, entries = resource
    if error_code != 0:
        raise RuntimeError("error %d: %s" % (error_code, error_message))
    return {
        name: {"value": value, "read_only": read_only, "source": source, "sensitive": sensitive,
               "synonyms": [[n, v, s] for n, v, s in synonyms]}
        for name, value, read_only, source, sensitive, synonyms in entries
    }


def group_description(info):
    return {
        "state": info.state,
        "protocol_type": info.protocol_type,
        "protocol": info.protocol,
        "members": [
            {
                "member_id": m.member_id,
                "client_id": m.client_id,
                "client_host": m.client_host,
                "subscription": list(m.member_metadata.subscription) if m.member_metadata else None,
                "assignment": {t: sorted(ps) for t, ps in m.member_assignment.assignment} if m.member_assignment else None,
            }
            for m in info.members
        ],
    }


def main():
    bootstrap, topic, group = sys.argv[1:4]
    steps = Steps()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kzoo-e2e-admin", request_timeout_ms=30000)

    steps.run("describe_cluster", admin.describe_cluster)
    steps.run("create_topic", lambda: admin.create_topics(
        [NewTopic(topic, 3, 2, topic_configs={"retention.ms": "3600000"})], timeout_ms=30000) and None)
    steps.run("create_existing_topic", lambda: admin.create_topics([NewTopic(topic, 1, 1)], timeout_ms=30000) and None)
    steps.run("describe_topic", lambda: until(
        lambda: admin.describe_topics([topic]),
        lambda ts: ts[0]["error_code"] == 0 and all(p["leader"] >= 0 for p in ts[0]["partitions"])))
    steps.run("list_topics", admin.list_topics)
    steps.run("describe_topic_configs", lambda: until(
        lambda: configs(admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], include_synonyms=True)[0]),
        lambda c: "retention.ms" in c))
    steps.run("describe_broker_configs", lambda: configs(
        admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")], include_synonyms=True)[0]))

    def produce():
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="kzoo-e2e-producer")
        try:
            futures = [producer.send(topic, key=b"key-%d" % (i % 5), value=b"value-%d" % i) for i in range(RECORDS)]
            producer.flush(timeout=30)
            return len([f.get(timeout=30) for f in futures])
        finally:
            producer.close(timeout=10)
    steps.run("produce", produce)

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id="kzoo-e2e-consumer",
                             auto_offset_reset="earliest", enable_auto_commit=False)

    def consume():
        consumed = 0
        for _ in range(300):
            for records in consumer.poll(timeout_ms=200).values():
                consumed += len(records)
            if consumed >= RECORDS:
                break
        consumer.commit()
        return consumed
    steps.run("consume_and_commit", consume)
    steps.run("list_groups", lambda: sorted([g, p] for g, p in admin.list_consumer_groups()))
    steps.run("describe_group", lambda: group_description(admin.describe_consumer_groups([group])[0]))
    steps.run("group_offsets", lambda: {
        "%s/%d" % (tp.topic, tp.partition): om.offset for tp, om in admin.list_consumer_group_offsets(group).items()})
    # KafkaConsumer.close leaves the group.
    steps.run("describe_group_after_close", lambda: consumer.close() or until(
        lambda: group_description(admin.describe_consumer_groups([group])[0]),
        lambda g: g["state"] == "Empty"))

    steps.run("delete_topic", lambda: admin.delete_topics([topic], timeout_ms=30000) and None)
    steps.run("list_topics_after_delete", lambda: until(admin.list_topics, lambda names: topic not in names))
    steps.run("delete_missing_topic", lambda: admin.delete_topics([topic], timeout_ms=30000) and None)
    admin.close()
    steps.dump()


if __name__ == "__main__":
    main()
