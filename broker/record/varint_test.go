package record

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// TestVarintAtAgreesWithBinaryVarint checks the fast paths of varintAt and fieldAt
// against encoding/binary on values of every length and on malformed input.
func TestVarintAtAgreesWithBinaryVarint(t *testing.T) {
	values := []int64{0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		values = append(values, rng.Int64()>>rng.IntN(64))
	}
	for _, v := range values {
		b := binary.AppendVarint([]byte{0xff}, v)
		got, next := varintAt(b, 1)
		if got != v || next != len(b) {
			t.Fatalf("varintAt(%x) = %d, %d; want %d, %d", b, got, next, v, len(b))
		}
		if _, next := varintAt(b[:len(b)-1], 1); next != -1 {
			t.Fatalf("varintAt of truncated %x: next %d, want -1", b[:len(b)-1], next)
		}
	}
	for range 5000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		want, n := binary.Varint(b)
		got, next := varintAt(b, 0)
		if n <= 0 && next != -1 || n > 0 && (got != want || next != n) {
			t.Fatalf("varintAt(%x) = %d, %d; binary.Varint says %d, %d", b, got, next, want, n)
		}
	}
	if _, next := varintAt([]byte{1}, -1); next != -1 {
		t.Fatal("varintAt after a malformed field must stay malformed")
	}
	if _, _, next := fieldAt([]byte{2, 'a'}, -1); next != -1 {
		t.Fatal("fieldAt after a malformed field must stay malformed")
	}
	if n, at, next := fieldAt([]byte{1}, 0); n != -1 || at != 1 || next != 1 {
		t.Fatalf("null field: %d, %d, %d", n, at, next)
	}
	if _, _, next := fieldAt([]byte{3}, 0); next != -1 {
		t.Fatal("field length -2 accepted")
	}
	if _, _, next := fieldAt([]byte{4, 'a'}, 0); next != -1 {
		t.Fatal("field past the end accepted")
	}
}

// TestVarintSizeAgreesWithBinaryVarint checks the size the Builder reserves for each
// varint it writes against what encoding/binary writes.
func TestVarintSizeAgreesWithBinaryVarint(t *testing.T) {
	values := []int64{0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64}
	for shift := range 64 {
		values = append(values, 1<<shift, 1<<shift-1, -(1 << shift), -(1<<shift)-1)
	}
	for _, v := range values {
		if got, want := varintSize(v), len(binary.AppendVarint(nil, v)); got != want {
			t.Fatalf("varintSize(%d) = %d, want %d", v, got, want)
		}
	}
}
