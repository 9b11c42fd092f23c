"""A consume-transform-produce worker over librdkafka (confluent-kafka).

It copies every record of the input topic to the output topic inside
transactions of up to KZOO_TXN_WORKER_BATCH records, committing the consumed
offsets in each transaction (send_offsets_to_transaction, with the consumer's
group metadata: KIP-447 where the brokers have it). The Go test
(e2e/txn_copy_test.go) starts it with the same environment as its Go workers
and reads the same event lines on stdout:

    committed N     a transaction of N records committed
    aborted N WHY   a transaction of N records aborted
    holding N       a transaction of N records is written and held open
    fatal WHY       the worker gives up and exits with status 1

On SIGTERM it ends its current transaction, closes the consumer (which leaves
the group) and exits with status 0.
"""

import os
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def event(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


stopping = False


def on_sigterm(signum, frame):
    global stopping
    stopping = True


def rewind(consumer):
    """Seeks every assigned partition back to its committed offset, so that
    an aborted transaction's records are read again."""
    assignment = consumer.assignment()
    if not assignment:
        return
    for tp in consumer.committed(assignment, timeout=30):
        if tp.offset < 0:
            tp.offset = -2  # OFFSET_BEGINNING: nothing committed yet
        consumer.seek(tp)


def produce(producer, topic, m):
    """Produces a copy of m, waiting for room when the queue is full."""
    while True:
        try:
            producer.produce(topic, key=m.key(), value=m.value())
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.1)


def end_transaction(producer, commit):
    """Commits (commit=True) or aborts the transaction, and returns whether
    it committed. A commit the coordinator refuses becomes an abort; calls
    that time out are made again, as librdkafka allows."""
    for _ in range(10):
        try:
            if commit:
                producer.commit_transaction(60)
            else:
                producer.abort_transaction(60)
            return commit
        except KafkaException as e:
            err = e.args[0]
            if commit and err.txn_requires_abort():
                event("aborting %s" % err)
                commit = False
            elif not err.retriable():
                raise
    raise RuntimeError("the transaction did not end after 10 attempts")


def main():
    env = os.environ
    bootstrap = env["KZOO_TXN_WORKER_BOOTSTRAP"]
    group = env["KZOO_TXN_WORKER_GROUP"]
    source = env["KZOO_TXN_WORKER_INPUT"]
    sink = env["KZOO_TXN_WORKER_OUTPUT"]
    txn_id = env["KZOO_TXN_WORKER_TRANSACTIONAL_ID"]
    batch = int(env["KZOO_TXN_WORKER_BATCH"])
    hold_after = int(env.get("KZOO_TXN_WORKER_HOLD_AFTER") or 0)
    kip447 = env.get("KZOO_TXN_WORKER_KIP447") == "1"

    signal.signal(signal.SIGTERM, on_sigterm)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "client.id": txn_id,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 250,
        "partition.assignment.strategy": "range",
    })
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "client.id": txn_id,
        "transactional.id": txn_id,
        "transaction.timeout.ms": 30000,
        "linger.ms": 5,
    })
    producer.init_transactions(60)

    def on_revoke(consumer, partitions):
        # Before KIP-447 (Kafka 2.5) a broker answers OffsetFetch with the
        # last offsets whose commit markers are written, so the partitions'
        # next owner could read offsets older than the transaction just
        # committed, and copy its records again. Rejoining a little later
        # lets the markers land first, as franz-go does after each commit
        # on such brokers. With KIP-447, librdkafka asks for stable offsets.
        if not kip447:
            time.sleep(0.5)

    consumer.subscribe([source], on_revoke=on_revoke)
    committed = 0
    try:
        while not stopping:
            msgs = consumer.consume(num_messages=batch, timeout=0.5)
            records = [m for m in msgs if m.error() is None]
            for m in msgs:
                if m.error() is not None:
                    event("fetch-error %s" % m.error())
            if not records:
                continue
            producer.begin_transaction()
            ok = True
            try:
                for m in records:
                    produce(producer, sink, m)
                if hold_after and committed >= hold_after:
                    producer.flush(60)
                    event("holding %d" % len(records))
                    while not stopping:
                        signal.pause()
                    os._exit(0)  # as a crash would: the transaction stays open
                nxt = {}
                for m in records:
                    nxt[m.partition()] = m.offset() + 1
                offsets = [TopicPartition(source, p, o) for p, o in sorted(nxt.items())]
                producer.send_offsets_to_transaction(
                    offsets, consumer.consumer_group_metadata(), 60)
            except KafkaException as e:
                err = e.args[0]
                if not (err.txn_requires_abort() or err.retriable()):
                    raise
                event("aborting %d %s" % (len(records), err))
                ok = False
            if end_transaction(producer, ok):
                committed += 1
                event("committed %d" % len(records))
            else:
                event("aborted %d" % len(records))
                rewind(consumer)
    except (KafkaException, RuntimeError) as e:
        event("fatal %s" % (e.args[0] if e.args else e))
        return 1
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
