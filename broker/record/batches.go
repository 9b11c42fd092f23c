package record

import (
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Batch is one batch of a log's data, as [Batches] yields it.
type Batch struct {
	// Header is the batch's header. Of a message of the old formats (magic 0 and 1) only
	// BaseOffset, Length and Magic are set, BaseOffset to the message's own offset (the
	// last of the messages it wraps, if it is compressed), so that NextOffset is still
	// the offset after it.
	Header Header
	// Bytes is the whole batch, a slice of the data it was found in.
	Bytes []byte
}

// legacyMinSize is the size of the smallest message of the old formats that tells its
// magic: offset, length, CRC and magic.
const legacyMinSize = LogOverhead + 5

// Batches yields the batches of data, which holds whole batches as a log read returns
// them, in order. It is for a reader that must get past what it cannot use, such as a
// coordinator loading its state from its partition; appends check far more, with [Split]
// and a [Reader]. Every error wraps kerr.CorruptMessage.
//
//   - A magic-v2 batch whose CRC does not match comes with an error, and the iteration
//     goes on after it.
//   - A message of the old formats comes without an error, for the reader to skip: kzoo
//     never writes them.
//   - Where the framing is broken, nothing after can be found: the iteration ends with a
//     zero Batch and an error.
func Batches(data []byte) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		for rest := data; len(rest) > 0; {
			var b Batch
			var err error
			b, rest, err = cutBatch(rest)
			if !yield(b, err) || b.Bytes == nil {
				return
			}
		}
	}
}

// cutBatch splits the first batch off data. On a framing error it returns a zero Batch.
func cutBatch(data []byte) (b Batch, rest []byte, err error) {
	if len(data) < legacyMinSize {
		return Batch{}, nil, fmt.Errorf("%d trailing bytes, too few for a batch: %w", len(data), kerr.CorruptMessage)
	}
	// The offset, length and magic lie where they do in every format.
	length := int64(int32(binary.BigEndian.Uint32(data[lengthField:])))
	size := LogOverhead + length
	if length < legacyMinSize-LogOverhead || size > int64(len(data)) {
		return Batch{}, nil, fmt.Errorf("batch length %d with %d bytes left: %w", length, len(data), kerr.CorruptMessage)
	}
	b.Bytes, rest = data[:size:size], data[size:]
	magic := int8(data[magicField])
	if magic < CurrentMagic {
		// The offset field of a message of the old formats is its (last) offset.
		b.Header = Header{BaseOffset: int64(binary.BigEndian.Uint64(data)), Length: int32(length), Magic: magic}
		return b, rest, nil
	}
	if magic != CurrentMagic || size < HeaderSize {
		return Batch{}, nil, fmt.Errorf("batch of magic %d and length %d: %w", magic, length, kerr.CorruptMessage)
	}
	b.Header = ParseHeader(b.Bytes)
	return b, rest, b.Header.CheckCRC(b.Bytes)
}
