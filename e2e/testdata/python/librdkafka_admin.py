"""librdkafka admin calls that the installed confluent-kafka does not wrap,
made through ctypes on librdkafka itself (Debian's librdkafka1, which
python3-confluent-kafka depends on).

confluent-kafka-python exposes DeleteRecords only from 2.4 on, while
librdkafka has had rd_kafka_DeleteRecords since 1.6.
"""

import ctypes
import ctypes.util

# enum rd_kafka_type_t
_RD_KAFKA_PRODUCER = 0
# enum rd_kafka_admin_op_t: options valid for any admin call.
_RD_KAFKA_ADMIN_OP_ANY = 0
_ERRSTR_SIZE = 512


class _TopicPartition(ctypes.Structure):
    """rd_kafka_topic_partition_t, part of librdkafka's stable ABI."""
    _fields_ = [
        ("topic", ctypes.c_char_p),
        ("partition", ctypes.c_int32),
        ("offset", ctypes.c_int64),
        ("metadata", ctypes.c_void_p),
        ("metadata_size", ctypes.c_size_t),
        ("opaque", ctypes.c_void_p),
        ("err", ctypes.c_int),
        ("_private", ctypes.c_void_p),
    ]


class _TopicPartitionList(ctypes.Structure):
    """rd_kafka_topic_partition_list_t."""
    _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int), ("elems", ctypes.POINTER(_TopicPartition))]


def _load():
    lib = ctypes.CDLL(ctypes.util.find_library("rdkafka") or "librdkafka.so.1")
    p, s, i, tpl = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_TopicPartitionList)
    signatures = {
        "rd_kafka_conf_new": (p, []),
        "rd_kafka_conf_set": (i, [p, s, s, s, ctypes.c_size_t]),
        "rd_kafka_conf_destroy": (None, [p]),
        "rd_kafka_new": (p, [i, p, s, ctypes.c_size_t]),
        "rd_kafka_destroy": (None, [p]),
        "rd_kafka_queue_new": (p, [p]),
        "rd_kafka_queue_destroy": (None, [p]),
        "rd_kafka_queue_poll": (p, [p, i]),
        "rd_kafka_AdminOptions_new": (p, [p, i]),
        "rd_kafka_AdminOptions_set_operation_timeout": (i, [p, i, s, ctypes.c_size_t]),
        "rd_kafka_AdminOptions_destroy": (None, [p]),
        "rd_kafka_topic_partition_list_new": (tpl, [i]),
        "rd_kafka_topic_partition_list_add": (ctypes.POINTER(_TopicPartition), [tpl, s, ctypes.c_int32]),
        "rd_kafka_topic_partition_list_destroy": (None, [tpl]),
        "rd_kafka_DeleteRecords_new": (p, [tpl]),
        "rd_kafka_DeleteRecords_destroy": (None, [p]),
        "rd_kafka_DeleteRecords": (None, [p, ctypes.POINTER(p), ctypes.c_size_t, p, p]),
        "rd_kafka_event_DeleteRecords_result": (p, [p]),
        "rd_kafka_DeleteRecords_result_offsets": (tpl, [p]),
        "rd_kafka_event_error": (i, [p]),
        "rd_kafka_event_error_string": (s, [p]),
        "rd_kafka_event_destroy": (None, [p]),
        "rd_kafka_err2name": (s, [i]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


def delete_records(bootstrap, topic, offsets, timeout_ms=30000):
    """Deletes the records of topic below offsets[partition] (-1: the high
    watermark) with rd_kafka_DeleteRecords and returns, per partition, the
    new low watermark or the error's name."""
    lib = _load()
    errstr = ctypes.create_string_buffer(_ERRSTR_SIZE)
    conf = lib.rd_kafka_conf_new()
    if lib.rd_kafka_conf_set(conf, b"bootstrap.servers", bootstrap.encode(), errstr, _ERRSTR_SIZE) != 0:
        lib.rd_kafka_conf_destroy(conf)
        raise RuntimeError("bootstrap.servers: %s" % errstr.value.decode())
    rk = lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errstr, _ERRSTR_SIZE)  # owns conf on success
    if not rk:
        lib.rd_kafka_conf_destroy(conf)
        raise RuntimeError("rd_kafka_new: %s" % errstr.value.decode())
    try:
        queue = lib.rd_kafka_queue_new(rk)
        options = lib.rd_kafka_AdminOptions_new(rk, _RD_KAFKA_ADMIN_OP_ANY)
        partitions = lib.rd_kafka_topic_partition_list_new(len(offsets))
        try:
            if lib.rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, errstr, _ERRSTR_SIZE) != 0:
                raise RuntimeError("operation timeout: %s" % errstr.value.decode())
            for partition, offset in offsets.items():
                lib.rd_kafka_topic_partition_list_add(partitions, topic.encode(), partition).contents.offset = offset
            request = ctypes.c_void_p(lib.rd_kafka_DeleteRecords_new(partitions))
            try:
                lib.rd_kafka_DeleteRecords(rk, ctypes.byref(request), 1, options, queue)
            finally:
                lib.rd_kafka_DeleteRecords_destroy(request)
            return _delete_records_result(lib, queue, timeout_ms)
        finally:
            lib.rd_kafka_topic_partition_list_destroy(partitions)
            lib.rd_kafka_AdminOptions_destroy(options)
            lib.rd_kafka_queue_destroy(queue)
    finally:
        lib.rd_kafka_destroy(rk)


def _delete_records_result(lib, queue, timeout_ms):
    event = lib.rd_kafka_queue_poll(queue, timeout_ms + 10000)
    if not event:
        raise TimeoutError("no DeleteRecords result within %d ms" % (timeout_ms + 10000))
    try:
        err = lib.rd_kafka_event_error(event)
        if err != 0:
            raise RuntimeError("%s: %s" % (lib.rd_kafka_err2name(err).decode(),
                                           (lib.rd_kafka_event_error_string(event) or b"").decode()))
        result = lib.rd_kafka_event_DeleteRecords_result(event)
        if not result:
            raise RuntimeError("the event is not a DeleteRecords result")
        answered = lib.rd_kafka_DeleteRecords_result_offsets(result).contents
        out = {}
        for k in range(answered.cnt):
            tp = answered.elems[k]
            out[str(tp.partition)] = ({"error": lib.rd_kafka_err2name(tp.err).decode()} if tp.err
                                      else {"low_watermark": tp.offset})
        return out
    finally:
        lib.rd_kafka_event_destroy(event)
