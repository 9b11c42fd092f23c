package kafkahash

import "testing"

func TestPartitionForMatchesKafka(t *testing.T) {
	// Expected values from Java's String.hashCode and Kafka's Utils.abs.
	cases := []struct {
		key        string
		partitions int32
		want       int32
	}{
		{"group", 50, 47},                 // hashCode 98629247
		{"my-group", 50, 12},              // hashCode -1906497762: abs, not & 0x7fffffff (36)
		{"test-group", 50, 12},            // 627841412
		{"console-consumer-12345", 50, 6}, // 158455506
		{"polygenelubricants", 50, 0},     // hashCode is Integer.MIN_VALUE: Utils.abs gives 0
		{"", 50, 0},                       // 0
		{"groupé", 50, 6},                 // -1237460406
		{"\U0001F600grp", 50, 36},         // a surrogate pair in UTF-16
		{"group", 1, 0},
	}
	for _, tc := range cases {
		if got := PartitionFor(tc.key, tc.partitions); got != tc.want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", tc.key, tc.partitions, got, tc.want)
		}
	}
	if got := javaStringHashCode("polygenelubricants"); got != -2147483648 {
		t.Errorf("hashCode(polygenelubricants) = %d", got)
	}
}
