// Package scale holds kzoo's end-to-end tests and bench of many partitions,
// run against real ZooKeeper and broker processes (e2e/cluster):
//
//   - TestDescriptorBound: a broker with kzoo.max.open.files=200 serves a
//     1,000-partition topic of 4,000 segments, before and after a restart,
//     without ever holding more than 200 segment and index files open;
//   - TestManyPartitionsSurviveFailover: thousands of RF 3 partitions keep
//     every acknowledged record through a controller SIGKILL and a broker
//     restart;
//   - TestScaleBench (`make bench-scale`, skipped otherwise): for 10k to
//     100k RF 3 partitions on three brokers, the time to bring them all
//     online, to fail the controller over, to shut a broker down and bring it
//     back, and each broker's memory, descriptors and Metadata latency,
//     printed beside Kafka's published figures and the targets of the issue
//     that asked for 100k partitions.
//
// The package has no code of its own outside its tests.
package scale
