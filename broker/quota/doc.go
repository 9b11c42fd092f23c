// Package quota measures client, topic and replication traffic against
// quotas the way Kafka does (KIP-13, KIP-55, KIP-124, KIP-219, KIP-73): rates
// over sampled windows, and the time a client over its quota must be
// throttled to get back within it.
//
// The package is pure: no I/O, no goroutines, and every time comes from the
// caller or an injected clock, so its behaviour is tested without waiting.
package quota
