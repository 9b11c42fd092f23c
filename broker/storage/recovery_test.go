package storage

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// copyDir copies the regular files of src into a new directory dst.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	must(t, os.MkdirAll(dst, 0o755))
	entries, err := os.ReadDir(src)
	must(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644))
	}
}

// readAll reads the whole log through Read and returns its bytes.
func readAll(t testing.TB, l *Log) []byte {
	t.Helper()
	var all []byte
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		s, err := l.Read(off, math.MaxInt64, math.MaxInt32)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		batches := splitTestBatches(t, readSlice(t, s))
		if len(batches) == 0 {
			t.Fatalf("nothing at %d below the log end %d", off, l.LogEndOffset())
		}
		for _, b := range batches {
			all = append(all, b...)
		}
		off = decodeTestHeader(t, batches[len(batches)-1]).lastOffset + 1
	}
	return all
}

// writtenLog creates a closed log of several segments and returns its directory and the
// batches in it.
func writtenLog(t testing.TB, cfg Config, batches int) (string, [][]byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "topic-0")
	l, err := Open(dir, cfg, OpenOptions{})
	must(t, err)
	written := appendBatches(t, l, batches)
	closeLog(t, l)
	return dir, written
}

func TestRecoveryFromTornTail(t *testing.T) {
	cfg := smallConfig()
	src, written := writtenLog(t, cfg, 24)
	segs := segmentFiles(t, src)
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	lastName := segs[len(segs)-1]
	lastBase, _ := strconv.ParseInt(strings.TrimSuffix(lastName, ".log"), 10, 64)
	lastData, err := os.ReadFile(filepath.Join(src, lastName))
	must(t, err)
	var before []byte // every batch of the earlier segments
	for _, b := range written {
		if decodeTestHeader(t, b).baseOffset < lastBase {
			before = append(before, b...)
		}
	}
	lastBatches := splitTestBatches(t, lastData)

	// Cut around every batch boundary, length field and header end, and at a stride between.
	cuts := map[int]bool{len(lastData): true}
	for cut := 0; cut < len(lastData); cut += 13 {
		cuts[cut] = true
	}
	boundary := 0
	for _, b := range lastBatches {
		for _, d := range []int{-1, 0, 1, 11, 12, 60, 61} {
			if c := boundary + d; c >= 0 && c <= len(lastData) {
				cuts[c] = true
			}
		}
		boundary += len(b)
	}

	work := t.TempDir()
	for cut := range cuts {
		// What survives: the whole batches that end at or before the cut.
		wantEnd, kept := lastBase, 0
		for _, b := range lastBatches {
			if kept+len(b) > cut {
				break
			}
			kept += len(b)
			wantEnd = decodeTestHeader(t, b).lastOffset + 1
		}
		dir := filepath.Join(work, strconv.Itoa(cut))
		copyDir(t, src, dir)
		must(t, os.Truncate(filepath.Join(dir, lastName), int64(cut)))

		l, err := Open(dir, cfg, OpenOptions{RecoveryPoint: lastBase})
		if err != nil {
			t.Fatalf("cut at %d: open: %v", cut, err)
		}
		if l.LogEndOffset() != wantEnd {
			t.Fatalf("cut at %d: log end %d, want %d", cut, l.LogEndOffset(), wantEnd)
		}
		if got, want := readAll(t, l), append(bytes.Clone(before), lastData[:kept]...); !bytes.Equal(got, want) {
			t.Fatalf("cut at %d: recovered %d bytes, want the %d bytes of whole batches", cut, len(got), len(want))
		}
		res := appendT(t, l, makeBatch(t, plain(2, 0)))
		if res.FirstOffset != wantEnd {
			t.Fatalf("cut at %d: append after recovery at %d, want %d", cut, res.FirstOffset, wantEnd)
		}
		closeLog(t, l)

		l, err = Open(dir, cfg, OpenOptions{CleanShutdown: true})
		must(t, err)
		if l.LogEndOffset() != wantEnd+2 {
			t.Fatalf("cut at %d: after reopening, log end %d, want %d", cut, l.LogEndOffset(), wantEnd+2)
		}
		closeLog(t, l)
		must(t, os.RemoveAll(dir))
	}
}

func TestRecoveryDropsGarbageAfterTheLastBatch(t *testing.T) {
	cfg := smallConfig()
	dir, written := writtenLog(t, cfg, 10)
	segs := segmentFiles(t, dir)
	last := filepath.Join(dir, segs[len(segs)-1])
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	mustWrite(t, f.Write, bytes.Repeat([]byte{0x5a}, 300)) // looks like a huge length
	must(t, f.Close())

	l := openLogT(t, dir, cfg, OpenOptions{})
	wantEnd := decodeTestHeader(t, written[len(written)-1]).lastOffset + 1
	if l.LogEndOffset() != wantEnd {
		t.Fatalf("log end %d, want %d", l.LogEndOffset(), wantEnd)
	}
	fi, err := os.Stat(last)
	must(t, err)
	if fi.Size() != l.loadSegments()[len(l.loadSegments())-1].size.Load() {
		t.Fatalf("file of %d bytes not truncated to the valid %d", fi.Size(), l.loadSegments()[len(l.loadSegments())-1].size.Load())
	}
}

func TestRecoveryOfACorruptBatchDependsOnTheRecoveryPoint(t *testing.T) {
	cfg := smallConfig()
	src, written := writtenLog(t, cfg, 30)
	segs := segmentFiles(t, src)
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	// Corrupt a record of the third batch of the second segment: the header stays sound,
	// only the CRC tells.
	second := segs[1]
	secondBase, _ := strconv.ParseInt(strings.TrimSuffix(second, ".log"), 10, 64)
	data, err := os.ReadFile(filepath.Join(src, second))
	must(t, err)
	batches := splitTestBatches(t, data)
	pos := len(batches[0]) + len(batches[1])
	corruptBase := decodeTestHeader(t, batches[2]).baseOffset
	data[pos+70] ^= 0xff
	must(t, os.WriteFile(filepath.Join(src, second), data, 0o644))
	fullEnd := decodeTestHeader(t, written[len(written)-1]).lastOffset + 1

	tests := []struct {
		name    string
		opts    OpenOptions
		wantEnd int64
	}{
		{"clean shutdown trusts the log", OpenOptions{CleanShutdown: true}, fullEnd},
		{"recovery point past the segment trusts it", OpenOptions{RecoveryPoint: fullEnd}, fullEnd},
		{"recovery point inside the segment checks it", OpenOptions{RecoveryPoint: secondBase + 1}, corruptBase},
		{"no recovery point checks everything", OpenOptions{}, corruptBase},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), strconv.Itoa(i))
			copyDir(t, src, dir)
			l := openLogT(t, dir, cfg, tt.opts)
			if l.LogEndOffset() != tt.wantEnd {
				t.Fatalf("log end %d, want %d", l.LogEndOffset(), tt.wantEnd)
			}
			if tt.wantEnd == corruptBase {
				if n := len(segmentFiles(t, dir)); n != 2 {
					t.Fatalf("%d segment files left, want the later ones deleted", n)
				}
				if res := appendT(t, l, makeBatch(t, plain(1, 0))); res.FirstOffset != corruptBase {
					t.Fatalf("append at %d, want %d", res.FirstOffset, corruptBase)
				}
			}
		})
	}
}

// indexFiles returns the contents of every index file in dir, by name.
func indexFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	for _, pattern := range []string{"*.index", "*.timeindex"} {
		matches, err := filepath.Glob(filepath.Join(dir, pattern))
		must(t, err)
		for _, m := range matches {
			data, err := os.ReadFile(m)
			must(t, err)
			files[filepath.Base(m)] = data
		}
	}
	return files
}

func TestRecoveryRebuildsIndexes(t *testing.T) {
	cfg := smallConfig()
	src, written := writtenLog(t, cfg, 40)
	want := indexFiles(t, src)
	var firstIndex, firstTimeIndex string
	for name, data := range want {
		if len(data) == 0 {
			continue
		}
		if strings.HasSuffix(name, ".index") && firstIndex == "" {
			firstIndex = name
		}
		if strings.HasSuffix(name, ".timeindex") && firstTimeIndex == "" {
			firstTimeIndex = name
		}
	}
	if firstIndex == "" || firstTimeIndex == "" {
		t.Fatalf("the log has no index entries to test with: %v", want)
	}
	tests := []struct {
		name   string
		damage func(dir string)
	}{
		{"deleted", func(dir string) {
			for name := range want {
				must(t, os.Remove(filepath.Join(dir, name)))
			}
		}},
		{"size not a multiple of the entry size", func(dir string) {
			f, err := os.OpenFile(filepath.Join(dir, firstIndex), os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			mustWrite(t, f.Write, []byte{1, 2, 3})
			must(t, f.Close())
		}},
		{"position past the end of the log", func(dir string) {
			data := bytes.Clone(want[firstIndex])
			binary.BigEndian.PutUint32(data[len(data)-4:], math.MaxInt32)
			must(t, os.WriteFile(filepath.Join(dir, firstIndex), data, 0o644))
		}},
		{"offsets not increasing", func(dir string) {
			data := bytes.Clone(want[firstIndex])
			binary.BigEndian.PutUint32(data[0:], 1<<20)
			must(t, os.WriteFile(filepath.Join(dir, firstIndex), data, 0o644))
		}},
		{"time index with a bogus timestamp", func(dir string) {
			data := bytes.Clone(want[firstTimeIndex])
			binary.BigEndian.PutUint64(data[0:], 1<<62)
			must(t, os.WriteFile(filepath.Join(dir, firstTimeIndex), data, 0o644))
		}},
		{"time index truncated mid-entry", func(dir string) {
			must(t, os.Truncate(filepath.Join(dir, firstTimeIndex), int64(len(want[firstTimeIndex])-5)))
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), strconv.Itoa(i))
			copyDir(t, src, dir)
			tt.damage(dir)
			l := openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
			got := indexFiles(t, dir)
			if len(got) != len(want) {
				t.Fatalf("%d index files after reopening, want %d", len(got), len(want))
			}
			for name, data := range want {
				if !bytes.Equal(got[name], data) {
					t.Fatalf("%s not rebuilt: %d bytes, want %d", name, len(got[name]), len(data))
				}
			}
			for off := int64(0); off < l.LogEndOffset(); off++ {
				b := readSlice(t, must2(l.Read(off, math.MaxInt64, 1)))
				if !bytes.Equal(b, batchHolding(t, written, off)) {
					t.Fatalf("read %d after rebuilding the index: wrong batch", off)
				}
			}
		})
	}
}

func TestReopenKeepsLogAndIndexes(t *testing.T) {
	cfg := smallConfig()
	dir, written := writtenLog(t, cfg, 25)
	want := indexFiles(t, dir)
	l := openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
	var all []byte
	for _, b := range written {
		all = append(all, b...)
	}
	if !bytes.Equal(readAll(t, l), all) {
		t.Fatal("reopened log reads back differently")
	}
	got := indexFiles(t, dir)
	for name, data := range want {
		if !bytes.Equal(got[name], data) {
			t.Fatalf("reopening rewrote %s", name)
		}
	}
	if l.RecoveryPoint() != l.LogEndOffset() {
		t.Fatalf("recovery point %d after a clean open, want the log end %d", l.RecoveryPoint(), l.LogEndOffset())
	}
}

func TestOpenRemovesLeftovers(t *testing.T) {
	cfg := smallConfig()
	dir, _ := writtenLog(t, cfg, 5)
	leftovers := []string{
		"00000000000000000000.log.deleted",
		"00000000000000000000.log.17.deleted", // a deleted segment's file a crash left
		"00000000000000000003.log.cleaned",
		"00000000000000000003.index.swap",
		"00000000000000000999.index", // an index without its segment
	}
	for _, name := range leftovers {
		must(t, os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644))
	}
	openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
	for _, name := range leftovers {
		if fileExists(filepath.Join(dir, name)) {
			t.Errorf("%s survived opening", name)
		}
	}
}

func TestOpenEmptyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new-0")
	l := openLogT(t, dir, smallConfig(), OpenOptions{})
	if l.LogStartOffset() != 0 || l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("new log spans [%d, %d) with %d bytes", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
	for _, suffix := range []string{".log", ".index", ".timeindex"} {
		if !fileExists(filepath.Join(dir, "00000000000000000000"+suffix)) {
			t.Errorf("no %s file for the first segment", suffix)
		}
	}
	if s, err := l.Read(0, math.MaxInt64, 100); err != nil || s.Size != 0 {
		t.Fatalf("read of an empty log: %+v, %v", s, err)
	}
}
