// Package kafkahash computes which partition of a coordinator topic a key
// belongs to, as Kafka computes it, so that kzoo and Kafka's own tools agree
// on a group's or a transactional id's coordinator.
package kafkahash

import (
	"math"
	"unicode/utf16"
)

// PartitionFor returns the partition of key among partitions: the
// non-negative Java String.hashCode of key, modulo the partition count
// (Kafka's Utils.abs(key.hashCode) % partitions). It is 0 when partitions is
// not positive.
func PartitionFor(key string, partitions int32) int32 {
	if partitions <= 0 {
		return 0
	}
	return javaAbs(javaStringHashCode(key)) % partitions
}

// javaStringHashCode is Java's String.hashCode: s[0]*31^(n-1) + ... +
// s[n-1] over the UTF-16 code units of s, in wrapping 32-bit arithmetic.
func javaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + hi
			h = 31*h + lo
			continue
		}
		h = 31*h + r
	}
	return h
}

// javaAbs is Kafka's Utils.abs: the absolute value, with math.MinInt32
// (whose absolute value does not fit) mapped to 0.
func javaAbs(n int32) int32 {
	switch {
	case n == math.MinInt32:
		return 0
	case n < 0:
		return -n
	}
	return n
}
