package storage

import "testing"

func TestEpochForOffset(t *testing.T) {
	// Epoch 2 wrote [10, 30), epoch 5 nothing, epoch 6 [30, 70), epoch 9 [70, LEO).
	c := epochCache{entries: []epochEntry{{2, 10}, {5, 30}, {6, 30}, {9, 70}}}
	for offset, want := range map[int64]int32{0: -1, 9: -1, 10: 2, 29: 2, 30: 6, 69: 6, 70: 9, 1000: 9} {
		if got := c.epochFor(offset); got != want {
			t.Errorf("epochFor(%d) = %d, want %d", offset, got, want)
		}
	}
	var empty epochCache
	if got := empty.epochFor(5); got != -1 {
		t.Errorf("empty cache: epochFor(5) = %d, want -1", got)
	}
}
