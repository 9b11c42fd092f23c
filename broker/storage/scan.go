package storage

import (
	"fmt"
	"io"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// batchScanner walks the record batches of a segment file from a start position. It reads
// through a window buffer, so that small batches cost one read per window rather than one
// per batch, and large ones one read of their header.
//
// Problems with the data (a torn or malformed batch) end the scan with an error wrapping
// kerr.CorruptMessage, leaving pos at the offending batch; read failures end it with an
// error that does not.
type batchScanner struct {
	r    io.ReaderAt
	name string // of the file, for errors
	end  int64  // the scan stops here

	pos    int64         // of the next batch
	cur    record.Header // the batch next returned
	curPos int64

	window []byte
	winPos int64
	winLen int
	spare  []byte // holds a whole batch larger than the window
	err    error

	headers int // batch headers parsed: what Open's cost is measured in
}

// minScanWindow is the smallest window a scanner works with.
const minScanWindow = record.HeaderSize

func newBatchScanner(r io.ReaderAt, name string, start, end int64, window []byte) *batchScanner {
	if len(window) < minScanWindow {
		window = make([]byte, minScanWindow)
	}
	return &batchScanner{r: r, name: name, end: end, pos: start, window: window}
}

// next advances to the following batch and reports whether there is one.
func (s *batchScanner) next() bool {
	if s.err != nil || s.pos >= s.end {
		return false
	}
	avail := s.end - s.pos
	if avail < record.HeaderSize {
		s.err = fmt.Errorf("%s: %d bytes at position %d, a batch header needs %d: %w", s.name, avail, s.pos, record.HeaderSize, kerr.CorruptMessage)
		return false
	}
	b, err := s.read(s.pos, record.HeaderSize)
	if err != nil {
		s.err = err
		return false
	}
	h := record.ParseHeader(b)
	if err := h.CheckStructure(avail); err != nil {
		s.err = fmt.Errorf("%s: batch at position %d: %w", s.name, s.pos, err)
		return false
	}
	s.cur, s.curPos = h, s.pos
	s.pos += h.Size()
	s.headers++
	return true
}

// batch returns the bytes of the current batch. They are valid until the next call.
func (s *batchScanner) batch() ([]byte, error) {
	size := s.cur.Size()
	if size <= int64(len(s.window)) {
		return s.read(s.curPos, int(size))
	}
	if int64(cap(s.spare)) < size {
		s.spare = make([]byte, size)
	}
	b := s.spare[:size]
	if _, err := s.r.ReadAt(b, s.curPos); err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", s.name, s.curPos, err)
	}
	return b, nil
}

// read returns n bytes at pos, from the window if it holds them and otherwise after
// refilling the window from pos. n must not exceed the window.
func (s *batchScanner) read(pos int64, n int) ([]byte, error) {
	if pos >= s.winPos && pos+int64(n) <= s.winPos+int64(s.winLen) {
		off := pos - s.winPos
		return s.window[off : off+int64(n)], nil
	}
	fill := int(min(int64(len(s.window)), s.end-pos))
	if _, err := s.r.ReadAt(s.window[:fill], pos); err != nil {
		s.winLen = 0
		return nil, fmt.Errorf("read %s at %d: %w", s.name, pos, err)
	}
	s.winPos, s.winLen = pos, fill
	return s.window[:n], nil
}
