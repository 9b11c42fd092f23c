package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
)

// The transaction index.
//
// <base>.txnindex lists the aborted transactions whose abort marker lies in the segment,
// in marker order, in Kafka's format: entries of 34 bytes, big-endian,
//
//	version           int16  0
//	producerID        int64
//	firstOffset       int64  of the transaction, perhaps in an earlier segment
//	lastOffset        int64  of the abort marker
//	lastStableOffset  int64  every transaction starting below it is decided once the marker is written
//
// A segment without aborted transactions has no file. The file is appended to (opened,
// written, closed: no descriptor is held per segment) as abort markers are written, by
// leaders and followers alike. A read_committed fetch reads it; the entries of a segment
// that has few are kept in memory.
//
// Open trusts a file only when it is whole and consistent with its segment (a whole
// number of entries, version 0, markers increasing and inside the segment); any other is
// rebuilt from the log, as are the files of the segments recovery rescans.
const (
	txnIndexFileSuffix = ".txnindex"
	txnIndexEntrySize  = 2 + 8 + 8 + 8 + 8
	txnIndexVersion    = 0
	// maxCachedAbortedTxns bounds the entries of a segment kept in memory (about 40 bytes
	// each); a segment with more is read from its file when a fetch needs it.
	maxCachedAbortedTxns = 1024
)

type abortedTxnEntry struct {
	producerID, firstOffset, lastOffset, lastStableOffset int64
}

func appendTxnIndexEntries(b []byte, entries []abortedTxnEntry) []byte {
	be := binary.BigEndian
	for _, e := range entries {
		b = be.AppendUint16(b, txnIndexVersion)
		b = be.AppendUint64(b, uint64(e.producerID))
		b = be.AppendUint64(b, uint64(e.firstOffset))
		b = be.AppendUint64(b, uint64(e.lastOffset))
		b = be.AppendUint64(b, uint64(e.lastStableOffset))
	}
	return b
}

// decodeTxnIndex parses a transaction index and checks it against its segment, which
// holds the offsets [base, next).
func decodeTxnIndex(b []byte, base, next int64) ([]abortedTxnEntry, error) {
	if len(b)%txnIndexEntrySize != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of entries", len(b))
	}
	be := binary.BigEndian
	entries := make([]abortedTxnEntry, 0, len(b)/txnIndexEntrySize)
	prev := int64(-1)
	for len(b) > 0 {
		if v := int16(be.Uint16(b)); v != txnIndexVersion {
			return nil, fmt.Errorf("entry version %d", v)
		}
		e := abortedTxnEntry{
			producerID:       int64(be.Uint64(b[2:])),
			firstOffset:      int64(be.Uint64(b[10:])),
			lastOffset:       int64(be.Uint64(b[18:])),
			lastStableOffset: int64(be.Uint64(b[26:])),
		}
		b = b[txnIndexEntrySize:]
		switch {
		case e.producerID < 0 || e.firstOffset < 0 || e.firstOffset > e.lastOffset:
			return nil, fmt.Errorf("entry %+v is not a transaction", e)
		case e.lastOffset < base || e.lastOffset >= next:
			return nil, fmt.Errorf("marker offset %d outside the segment's [%d, %d)", e.lastOffset, base, next)
		case e.lastOffset <= prev:
			return nil, fmt.Errorf("marker offset %d after %d: markers must increase", e.lastOffset, prev)
		}
		prev = e.lastOffset
		entries = append(entries, e)
	}
	return entries, nil
}

func txnIndexPath(dir string, base int64) string { return segmentPath(dir, base, txnIndexFileSuffix) }

// setAborted publishes entries as the segment's transaction index, which its file holds.
func (s *segment) setAborted(entries []abortedTxnEntry) {
	if len(entries) <= maxCachedAbortedTxns {
		cached := slices.Clip(entries)
		s.txnCache.Store(&cached)
	} else {
		s.txnCache.Store(nil)
	}
	s.txnCount.Store(int64(len(entries)))
}

// appendAborted appends e to the segment's transaction index. l.mu must be held.
func (s *segment) appendAborted(e abortedTxnEntry) error {
	path := txnIndexPath(s.dir, s.baseOffset)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open transaction index: %w", err)
	}
	_, err = f.Write(appendTxnIndexEntries(make([]byte, 0, txnIndexEntrySize), []abortedTxnEntry{e}))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to transaction index %s: %w", path, err)
	}
	n := s.txnCount.Load()
	if cached := s.txnCache.Load(); cached != nil && int64(len(*cached)) == n && n < maxCachedAbortedTxns {
		next := append(slices.Clip(*cached), e) // copies: readers may hold the old slice
		s.txnCache.Store(&next)
	} else {
		s.txnCache.Store(nil)
	}
	s.txnCount.Add(1)
	return nil
}

// writeAborted replaces the segment's transaction index by entries, atomically (a
// rewrite that a crash tore would look like a shorter, valid file), and publishes them.
// No entries, no file.
func (s *segment) writeAborted(entries []abortedTxnEntry) error {
	path := txnIndexPath(s.dir, s.baseOffset)
	if len(entries) == 0 {
		if err := removeIfExists(path); err != nil {
			return fmt.Errorf("remove transaction index: %w", err)
		}
	} else if err := writeFileAtomic(path, appendTxnIndexEntries(nil, entries)); err != nil {
		return fmt.Errorf("write transaction index: %w", err)
	}
	s.setAborted(entries)
	return nil
}

// writeFileSynced writes a new file whole and fsyncs it.
func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// abortedEntries returns the entries of the segment's transaction index published so far.
func (s *segment) abortedEntries() ([]abortedTxnEntry, error) {
	n := s.txnCount.Load()
	if n == 0 {
		return nil, nil
	}
	if cached := s.txnCache.Load(); cached != nil && int64(len(*cached)) >= n {
		return (*cached)[:n], nil
	}
	f, err := os.Open(txnIndexPath(s.dir, s.baseOffset))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // the segment was deleted meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("open transaction index: %w", err)
	}
	defer f.Close()
	b := make([]byte, n*txnIndexEntrySize)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read transaction index: %w", err)
	} else if errors.Is(err, io.EOF) {
		return nil, nil // replaced meanwhile by a truncation: the segment changed under the read
	}
	entries, err := decodeTxnIndex(b, s.baseOffset, math.MaxInt64)
	if err != nil {
		return nil, fmt.Errorf("transaction index of segment %d: %w", s.baseOffset, err)
	}
	return entries, nil
}

// loadAborted reads the segment's transaction index at open, the segment being loaded.
// distrust says why the file cannot be used; the caller then rebuilds it.
func (s *segment) loadAborted() (distrust string, err error) {
	b, err := os.ReadFile(txnIndexPath(s.dir, s.baseOffset))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.setAborted(nil)
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read transaction index: %w", err)
	}
	entries, err := decodeTxnIndex(b, s.baseOffset, s.nextOffset)
	if err != nil {
		return err.Error(), nil
	}
	s.setAborted(entries)
	return "", nil
}

// truncateAborted drops the entries whose marker is at or above offset, the segment's
// new end.
func (s *segment) truncateAborted(offset int64) error {
	entries, err := s.abortedEntries()
	if err != nil {
		return err
	}
	keep := len(entries)
	for keep > 0 && entries[keep-1].lastOffset >= offset {
		keep--
	}
	if keep == len(entries) {
		return nil
	}
	return s.writeAborted(slices.Clone(entries[:keep]))
}
