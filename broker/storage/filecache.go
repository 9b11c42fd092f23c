package storage

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// The descriptor cache.
//
// A broker with tens of thousands of partitions cannot keep every segment file open: the
// process has a fixed descriptor limit, which its client connections share. So segment
// files (.log, and the .index and .timeindex files of active segments) are named by a
// FileHandle, which opens its file on demand through the Manager's fileCache. Every use
// of a file acquires its handle for the duration of one operation (a read, an append's
// write, a sendfile) and releases it after; the cache closes files nobody holds, least
// recently used first (a CLOCK sweep: each acquire sets a referenced bit, the sweep
// clears it once before evicting), once more than its limit are open. A file in use is
// never closed: its reference count is above zero; a use after eviction reopens it.
//
// When every open file is in use the cache opens another anyway, over its limit: a
// partition must not stop serving because others hold descriptors. It counts these
// opens and says so in its log, at most once a minute.
//
// Acquiring an open file takes the handle's own mutex only; the cache's mutex is taken
// to open (reserving a descriptor, perhaps evicting) and to forget a handle. Lock order:
// a handle's mutex, then the cache's; the cache sweeps other handles with TryLock only,
// skipping one that is busy, so it never waits on a handle while holding its own mutex.

// Bounds of the limit chosen when none is configured (see DefaultMaxOpenFiles).
const (
	minAutoOpenFiles = 64
	maxAutoOpenFiles = 1 << 20
)

// overLimitWarnInterval spaces the warnings about opening files over the limit.
const overLimitWarnInterval = time.Minute

// DefaultMaxOpenFiles is the descriptor cache's limit when kzoo.max.open.files is 0: half
// the process's soft RLIMIT_NOFILE, so that client and inter-broker connections, log dir
// locks and transient files always have the other half, but at least minAutoOpenFiles.
func DefaultMaxOpenFiles() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == unix.RLIM_INFINITY {
		return maxAutoOpenFiles
	}
	return int(min(max(lim.Cur/2, minAutoOpenFiles), maxAutoOpenFiles))
}

// FileCacheStats describes a Manager's descriptor cache, for metrics.
type FileCacheStats struct {
	Open      int64 // segment and index files open now
	Limit     int64 // the limit they are kept under while some are unused
	Opens     int64 // files opened since the start
	Evictions int64 // files closed to make room for others
	OverLimit int64 // files opened over the limit because every open one was in use
}

// fileCache keeps at most limit files open while some are unused.
type fileCache struct {
	limit  int64
	logger logrus.FieldLogger

	open                        atomic.Int64
	opens, evictions, overLimit atomic.Int64
	deletedSeq                  atomic.Uint64 // makes the names of deleted files unique

	mu       sync.Mutex
	hand     *FileHandle // the CLOCK hand: the next handle the sweep looks at; nil when none is open
	lastWarn time.Time
}

func newFileCache(limit int, logger logrus.FieldLogger) *fileCache {
	if limit <= 0 {
		limit = DefaultMaxOpenFiles()
	}
	if logger == nil {
		discard := logrus.New()
		discard.SetOutput(io.Discard)
		logger = discard
	}
	return &fileCache{limit: int64(limit), logger: logger}
}

func (c *fileCache) stats() FileCacheStats {
	return FileCacheStats{
		Open:      c.open.Load(),
		Limit:     c.limit,
		Opens:     c.opens.Load(),
		Evictions: c.evictions.Load(),
		OverLimit: c.overLimit.Load(),
	}
}

// handle returns a handle on the file at path, opened with flag when used. It opens
// nothing now.
func (c *fileCache) handle(path string, flag int) *FileHandle {
	return &FileHandle{cache: c, path: path, flag: flag}
}

// create makes the file at path, which must not exist yet, and returns its handle with
// the file open (and unused) in the cache; later opens reopen it read-write, never create
// it again. Like any open, it first makes room, so that the process's descriptors stay
// within the limit, not only the cache's count.
func (c *fileCache) create(path string) (*FileHandle, error) {
	h := c.handle(path, os.O_RDWR|os.O_CREATE|os.O_EXCL)
	if _, err := h.acquire(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.flag = os.O_RDWR
	h.mu.Unlock()
	h.release()
	return h, nil
}

// reserve counts one more open file, first evicting unused files to stay within the
// limit, and returns the files evicted, which the caller closes (closeEvicted): not
// under the cache's mutex, which every open waits for.
func (c *fileCache) reserve() []*os.File {
	c.mu.Lock()
	defer c.mu.Unlock()
	var victims []*os.File
	for c.open.Load() >= c.limit {
		f := c.evictOne()
		if f == nil {
			c.overLimit.Add(1)
			if now := time.Now(); now.Sub(c.lastWarn) >= overLimitWarnInterval {
				c.lastWarn = now
				c.logger.WithFields(logrus.Fields{"open_files": c.open.Load(), "limit": c.limit}).
					Warn("every open segment file is in use: opening more than kzoo.max.open.files allows")
			}
			break
		}
		victims = append(victims, f)
	}
	c.open.Add(1)
	return victims
}

// unreserve gives back a reservation whose open failed.
func (c *fileCache) unreserve() { c.open.Add(-1) }

// transient runs fn, which opens a segment or index file of the cache's logs outside
// any handle and closes it before returning, within a reserved descriptor: the bound
// then holds for the process's descriptors while logs load. A nil cache (a cleaned
// copy not yet swapped in) just runs fn.
func (c *fileCache) transient(fn func() error) error {
	if c == nil {
		return fn()
	}
	closeEvicted(c.reserve())
	defer c.unreserve()
	return fn()
}

// evictOne runs the CLOCK sweep until it finds an unused file not referenced since the
// last pass, and detaches it from its handle. It returns nil when every open file is in
// use (or busy: a handle whose mutex is held is skipped). c.mu must be held.
func (c *fileCache) evictOne() *os.File {
	if c.hand == nil {
		return nil
	}
	// Two passes: the first may only clear referenced bits.
	for n := 2 * c.open.Load(); n >= 0 && c.hand != nil; n-- {
		h := c.hand
		c.hand = h.next
		if !h.mu.TryLock() {
			continue
		}
		if h.refs > 0 || h.file == nil {
			h.mu.Unlock()
			continue
		}
		if h.referenced {
			h.referenced = false
			h.mu.Unlock()
			continue
		}
		f := h.file
		h.file = nil
		c.remove(h)
		h.mu.Unlock()
		c.evictions.Add(1)
		c.open.Add(-1)
		return f
	}
	return nil
}

// insert puts h, whose file was just opened, in the ring just behind the hand: the sweep
// reaches it last. c.mu and h.mu must be held.
func (c *fileCache) insert(h *FileHandle) {
	if c.hand == nil {
		h.prev, h.next = h, h
		c.hand = h
		return
	}
	tail := c.hand.prev
	h.prev, h.next = tail, c.hand
	tail.next = h
	c.hand.prev = h
}

// remove takes h out of the ring. c.mu and h.mu must be held.
func (c *fileCache) remove(h *FileHandle) {
	if h.next == h {
		c.hand = nil
	} else {
		h.prev.next = h.next
		h.next.prev = h.prev
		if c.hand == h {
			c.hand = h.next
		}
	}
	h.prev, h.next = nil, nil
}

func closeEvicted(files []*os.File) {
	for _, f := range files {
		// Nothing was written through an evicted file since its last use that a close
		// could fail to report: writes are positioned and reach the page cache at once.
		_ = f.Close()
	}
}

// errFileClosed is returned by a handle that was closed: its segment is gone.
var errFileClosed = fmt.Errorf("segment file closed: %w", os.ErrClosed)

// FileHandle names a segment file, which it opens on demand through its cache: the file is
// open while the handle is acquired, and may be closed (and later reopened) in between.
// Its methods acquire it for the duration of one operation. All reads and writes are
// positioned: the file is shared by every reader of the segment.
type FileHandle struct {
	cache *fileCache // nil for a fixed handle (see FixedFile)

	mu         sync.Mutex
	path       string
	flag       int
	file       *os.File // nil while closed
	refs       int32
	referenced bool        // acquired since the sweep last looked
	closed     bool        // for good: the segment is gone
	prev, next *FileHandle // the ring of open files, guarded by cache.mu
}

// FixedFile returns a handle on f, which the caller keeps open and closes: the handle
// neither closes nor reopens it. It serves slices of files that are not segments (tests).
func FixedFile(f *os.File) *FileHandle {
	return &FileHandle{path: f.Name(), file: f}
}

// Name returns the path of the file.
func (h *FileHandle) Name() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.path
}

// acquire returns the file open, opening it if needed; release must follow.
func (h *FileHandle) acquire() (*os.File, error) {
	h.mu.Lock()
	if h.file != nil {
		h.refs++
		h.referenced = true
		f := h.file
		h.mu.Unlock()
		return f, nil
	}
	defer h.mu.Unlock()
	if h.closed || h.cache == nil {
		return nil, fmt.Errorf("%s: %w", h.path, errFileClosed)
	}
	// h.mu stays held while the file opens: other users of this file wait for it, and the
	// sweep skips the handle.
	victims := h.cache.reserve()
	closeEvicted(victims)
	f, err := os.OpenFile(h.path, h.flag, 0o644)
	if err != nil {
		h.cache.unreserve()
		return nil, fmt.Errorf("open segment file: %w", err)
	}
	h.cache.opens.Add(1)
	h.flag &^= os.O_TRUNC | os.O_EXCL // what the first open did is not to be redone
	h.cache.mu.Lock()
	h.cache.insert(h)
	h.cache.mu.Unlock()
	h.file = f
	h.refs++
	h.referenced = true
	return f, nil
}

// release ends a use begun by acquire.
func (h *FileHandle) release() {
	h.mu.Lock()
	h.refs--
	if h.refs == 0 && h.closed && h.file != nil {
		h.closeLocked()
	}
	h.mu.Unlock()
}

// close closes the handle for good, and its file once no one uses it.
func (h *FileHandle) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.cache == nil {
		return nil
	}
	h.closed = true
	if h.refs == 0 && h.file != nil {
		return h.closeLocked()
	}
	return nil
}

// closeLocked closes the file. h.mu must be held.
func (h *FileHandle) closeLocked() error {
	c := h.cache
	c.mu.Lock()
	c.remove(h)
	c.mu.Unlock()
	c.open.Add(-1)
	f := h.file
	h.file = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", h.path, err)
	}
	return nil
}

// pinIfOpen acquires the handle if its file is open, and reports whether it did; the
// caller releases it later. It never opens the file.
func (h *FileHandle) pinIfOpen() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.file == nil {
		return false
	}
	h.refs++
	return true
}

// rename moves the file to newPath; uses after it open the file there.
func (h *FileHandle) rename(newPath string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := os.Rename(h.path, newPath); err != nil {
		return fmt.Errorf("rename %s: %w", h.path, err)
	}
	h.path = newPath
	return nil
}

// ReadAt reads len(p) bytes at off, as io.ReaderAt does.
func (h *FileHandle) ReadAt(p []byte, off int64) (int, error) {
	f, err := h.acquire()
	if err != nil {
		return 0, err
	}
	defer h.release()
	return f.ReadAt(p, off)
}

// WriteAt writes p at off.
func (h *FileHandle) WriteAt(p []byte, off int64) (int, error) {
	f, err := h.acquire()
	if err != nil {
		return 0, err
	}
	defer h.release()
	return f.WriteAt(p, off)
}

// Write appends p: the handle must have been opened with O_APPEND.
func (h *FileHandle) Write(p []byte) (int, error) {
	f, err := h.acquire()
	if err != nil {
		return 0, err
	}
	defer h.release()
	return f.Write(p)
}

// Truncate changes the size of the file.
func (h *FileHandle) Truncate(size int64) error {
	f, err := h.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	return f.Truncate(size)
}

// Sync fsyncs the file. A file evicted since it was written is reopened for it, which
// flushes what any descriptor wrote.
func (h *FileHandle) Sync() error {
	f, err := h.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	return f.Sync()
}

// Stat returns the file's FileInfo.
func (h *FileHandle) Stat() (fs.FileInfo, error) {
	f, err := h.acquire()
	if err != nil {
		return nil, err
	}
	defer h.release()
	return f.Stat()
}

// deletedName returns the unique name a deleted segment file has while readers may still
// open it: <path>.<n>.deleted. Open removes such leftovers of a crash.
func (c *fileCache) deletedName(path string) string {
	return fmt.Sprintf("%s.%d%s", path, c.deletedSeq.Add(1), deletedFileSuffix)
}

const deletedFileSuffix = ".deleted"
