package verify

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// diskBatch identifies a record batch in a replica's segment files: its
// offsets and a digest of its bytes, which followers must hold exactly as
// the leader wrote them.
type diskBatch struct {
	base, last int64
	digest     [sha256.Size]byte
}

// Layout of a v2 record batch header, as far as this file needs it.
const (
	batchLengthEnd    = 12 // baseOffset int64, batchLength int32
	magicPos          = 16
	lastOffsetDeltaAt = 23
	batchHeaderSize   = 61
	// Larger batches than this are taken as garbage after a torn write.
	maxBatchSize = 1 << 30
)

// readBatches reads the batches of the partition directory dir that end
// below hw, in offset order. A log that ends before hw is an error: the
// caller asks only about replicas that claim to have it all.
func readBatches(dir string, hw int64) ([]diskBatch, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read log directory: %w", err)
	}
	var segments []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".log") {
			segments = append(segments, e.Name())
		}
	}
	// Names are zero-padded base offsets, so names sort as offsets do.
	slices.Sort(segments)
	var out []diskBatch
	for _, name := range segments {
		done, err := scanSegment(filepath.Join(dir, name), hw, &out)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
	}
	end := int64(0)
	if len(out) > 0 {
		end = out[len(out)-1].last + 1
	}
	if end < hw && (len(out) > 0 || hw > 0) {
		return nil, fmt.Errorf("log in %s ends at offset %d, below the high watermark %d", dir, end, hw)
	}
	return out, nil
}

// scanSegment appends the batches of one segment file ending below hw to
// out; done reports that a batch reaching hw was seen. A torn or
// preallocated tail ends the segment.
func scanSegment(path string, hw int64, out *[]diskBatch) (done bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // removed by retention while we listed
		}
		return false, fmt.Errorf("open segment: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	header := make([]byte, batchHeaderSize)
	for {
		if _, err := io.ReadFull(r, header); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return false, nil
			}
			return false, fmt.Errorf("read segment %s: %w", path, err)
		}
		base := int64(binary.BigEndian.Uint64(header[0:8]))
		length := int64(int32(binary.BigEndian.Uint32(header[8:12])))
		if length < batchHeaderSize-batchLengthEnd || length > maxBatchSize {
			return false, nil
		}
		if magic := header[magicPos]; magic != 2 {
			return false, fmt.Errorf("segment %s: batch at offset %d has magic %d, want 2", path, base, magic)
		}
		last := base + int64(int32(binary.BigEndian.Uint32(header[lastOffsetDeltaAt:lastOffsetDeltaAt+4])))
		if last >= hw {
			return true, nil
		}
		h := sha256.New()
		h.Write(header)
		if _, err := io.CopyN(h, r, batchLengthEnd+length-batchHeaderSize); err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil // torn tail
			}
			return false, fmt.Errorf("read segment %s: %w", path, err)
		}
		b := diskBatch{base: base, last: last}
		h.Sum(b.digest[:0])
		*out = append(*out, b)
	}
}
