"""Drives a kzoo cluster with confluent-kafka (Debian's
python3-confluent-kafka), that is with librdkafka's admin client: creates
topics with configs, describes and alters topic and broker configs, lists a
group its Consumer joined, and deletes records and describes log
directories where the installed version can.

Usage: confluent_admin.py BOOTSTRAP TOPIC GROUP
Prints one JSON object, as steps.Steps describes.
"""

import sys

import confluent_kafka
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

import librdkafka_admin
from steps import Steps, until

PARTITIONS = 3
RECORDS_PER_PARTITION = 4
TIMEOUT = 30


def wait(futures):
    """Waits for every future of an admin call; raises the first error."""
    return {str(key): future.result(timeout=TIMEOUT) for key, future in futures.items()}


def configs(admin, restype, name):
    (future,) = admin.describe_configs([ConfigResource(restype, name)], request_timeout=TIMEOUT).values()
    return {
        entry.name: {"value": entry.value, "source": entry.source, "is_default": entry.is_default,
                     "read_only": entry.is_read_only}
        for entry in future.result(timeout=TIMEOUT).values()
    }


def alter(admin, restype, name, config):
    """AlterConfigs (not incremental): config replaces every config set on the resource."""
    wait(admin.alter_configs([ConfigResource(restype, name, set_config=config)], request_timeout=TIMEOUT))


def groups(admin, group):
    return [
        {"id": g.id, "error": g.error and g.error.name(), "state": g.state, "protocol_type": g.protocol_type,
         "protocol": g.protocol, "members": [{"client_id": m.client_id, "client_host": m.client_host} for m in g.members]}
        for g in admin.list_groups(group, timeout=TIMEOUT)
    ]


def delete_records(admin, topic, offsets):
    """DeleteRecords through AdminClient.delete_records (confluent-kafka 2.4+),
    answered as librdkafka_admin.delete_records answers."""
    futures = admin.delete_records([TopicPartition(topic, p, o) for p, o in offsets.items()], request_timeout=TIMEOUT)
    out = {}
    for tp, future in futures.items():
        try:
            out[str(tp.partition)] = {"low_watermark": future.result(timeout=TIMEOUT).low_watermark}
        except KafkaException as e:
            out[str(tp.partition)] = {"error": e.args[0].name()}
    return out


def watermarks(bootstrap, topic):
    """Each partition's [low, high] watermark, from ListOffsets."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "kzoo-e2e-unused"})
    try:
        return {str(p): list(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT))
                for p in range(PARTITIONS)}
    finally:
        consumer.close()


def main():
    bootstrap, topic, group = sys.argv[1:4]
    steps = Steps()
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "kzoo-e2e-admin"})

    steps.run("versions", lambda: {"confluent_kafka": confluent_kafka.version()[0], "librdkafka": confluent_kafka.libversion()[0]})
    new = lambda name, config: NewTopic(name, PARTITIONS, 2, config=config)  # noqa: E731
    steps.run("create_topic", lambda: wait(admin.create_topics(
        [new(topic, {"retention.ms": "3600000", "cleanup.policy": "compact"})], operation_timeout=TIMEOUT)))
    steps.run("create_existing_topic", lambda: wait(admin.create_topics([new(topic, {})], operation_timeout=TIMEOUT)))
    steps.run("create_with_invalid_config", lambda: wait(admin.create_topics(
        [new(topic + "-invalid", {"cleanup.policy": "no-such-policy"})], operation_timeout=TIMEOUT)))
    steps.run("create_validate_only", lambda: wait(admin.create_topics(
        [new(topic + "-validate-only", {})], operation_timeout=TIMEOUT, validate_only=True)))
    steps.run("topic_partitions", lambda: until(
        lambda: sorted(admin.list_topics(topic, timeout=TIMEOUT).topics[topic].partitions),
        lambda ps: len(ps) == PARTITIONS))
    steps.run("topic_exists_after_validate_only",
              lambda: topic + "-validate-only" in admin.list_topics(timeout=TIMEOUT).topics)

    steps.run("describe_topic_configs", lambda: until(
        lambda: configs(admin, "topic", topic), lambda c: "retention.ms" in c))
    steps.run("alter_topic_configs", lambda: alter(admin, "topic", topic, {"retention.ms": "7200000"}))
    steps.run("describe_topic_configs_after_alter", lambda: until(
        lambda: configs(admin, "topic", topic), lambda c: c.get("retention.ms", {}).get("value") == "7200000"))

    steps.run("describe_broker_configs", lambda: configs(admin, "broker", "1"))
    steps.run("alter_broker_configs", lambda: alter(admin, "broker", "1", {"log.cleaner.threads": "2"}))
    steps.run("describe_broker_configs_after_alter", lambda: until(
        lambda: configs(admin, "broker", "1"), lambda c: c.get("log.cleaner.threads", {}).get("value") == "2"))
    steps.run("reset_broker_configs", lambda: alter(admin, "broker", "1", {}))

    def produce():
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "client.id": "kzoo-e2e-producer"})
        delivered = {}

        def on_delivery(err, msg):
            if err is None:
                delivered[msg.partition()] = delivered.get(msg.partition(), 0) + 1
        for p in range(PARTITIONS):
            for i in range(RECORDS_PER_PARTITION):
                producer.produce(topic, key=b"key-%d" % i, value=b"value-%d-%d" % (p, i), partition=p, on_delivery=on_delivery)
        if producer.flush(TIMEOUT) != 0:
            raise RuntimeError("records still undelivered after %ds" % TIMEOUT)
        return {str(p): n for p, n in sorted(delivered.items())}
    steps.run("produce", produce)

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "kzoo-e2e-consumer",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})

    def consume():
        consumer.subscribe([topic])
        consumed = 0
        for _ in range(120):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                consumed += 1
            if consumed == PARTITIONS * RECORDS_PER_PARTITION:
                break
        committed = consumer.commit(asynchronous=False)
        return {"consumed": consumed, "committed": {str(tp.partition): tp.offset for tp in committed}}
    steps.run("consume_and_commit", consume)
    steps.run("list_groups", lambda: groups(admin, group))
    steps.run("list_groups_after_close", lambda: consumer.close() or until(
        lambda: groups(admin, group), lambda gs: len(gs) == 1 and gs[0]["state"] == "Empty"))

    # Below offset 2 of partition 0, every record of partition 1 (-1: the
    # high watermark), and beyond the end of partition 2.
    delete_offsets = {0: 2, 1: -1, 2: RECORDS_PER_PARTITION + 1}
    if hasattr(admin, "delete_records"):  # confluent-kafka 2.4 and later
        steps.run("delete_records", lambda: delete_records(admin, topic, delete_offsets))
    else:
        steps.run("delete_records", lambda: librdkafka_admin.delete_records(bootstrap, topic, delete_offsets))
    steps.run("watermarks", lambda: watermarks(bootstrap, topic))
    # Neither confluent-kafka nor librdkafka has DescribeLogDirs up to now.
    if hasattr(admin, "describe_log_dirs"):
        steps.skip("describe_log_dirs", "confluent-kafka %s has describe_log_dirs, which this scenario does not call yet"
                   % confluent_kafka.version()[0])
    else:
        steps.skip("describe_log_dirs", "confluent-kafka %s and librdkafka %s have no DescribeLogDirs"
                   % (confluent_kafka.version()[0], confluent_kafka.libversion()[0]))

    steps.run("delete_topic", lambda: wait(admin.delete_topics([topic], operation_timeout=TIMEOUT)))
    steps.run("topic_exists_after_delete", lambda: until(
        lambda: topic in admin.list_topics(timeout=TIMEOUT).topics, lambda exists: not exists))
    steps.dump()


if __name__ == "__main__":
    main()
