package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrClosed is returned by operations on a closed or deleted Log.
var ErrClosed = errors.New("log is closed")

// ErrUnexpectedOffset is returned by AppendAsFollower when the batches start below the log
// end offset.
var ErrUnexpectedOffset = errors.New("batches start below the log end offset")

// Read buffer sizes: a fetch scans batch headers from an index entry (index.interval.bytes
// apart); loading scans whole segments.
const (
	readWindowSize = 16 << 10
	loadWindowSize = 256 << 10
)

// Log is the segmented on-disk log of one partition.
type Log struct {
	dir    string
	logger logrus.FieldLogger
	now    func() time.Time

	// reaper closes the files of deleted segments once readers are done with them. A Log
	// opened by a Manager shares the Manager's; a standalone Log owns one.
	reaper     *fileReaper
	ownsReaper bool
	// files opens the segment files on demand, keeping the number open bounded. A Log
	// opened by a Manager shares the Manager's; a standalone Log has its own.
	files       *fileCache
	loadWindows *windowPool // loadWindowSize long, for opens and truncations

	// Published for readers, which take no lock.
	segments       atomic.Pointer[[]*segment] // replaced, never modified; the last is active
	logStartOffset atomic.Int64
	logEndOffset   atomic.Int64
	recoveryPoint  atomic.Int64
	highWatermark  atomic.Int64
	lastStable     atomic.Int64 // see txn.go
	closed         atomic.Bool
	windows        sync.Pool   // of *[]byte, readWindowSize long
	readers        *readerPool // validating appends

	// cleanerCheckpoint is the first dirty offset of a compacted log: everything below it
	// has been cleaned at least once. Written with mu held; the Manager checkpoints it.
	cleanerCheckpoint atomic.Int64

	flushMu sync.Mutex // serialises Flush
	cleanMu sync.Mutex // serialises cleans; taken before mu, never while holding it

	mu                sync.Mutex // serialises every change to the log; guards what follows
	cfg               Config
	producers         producerStates
	unflushedMessages int64
	lastFlush         time.Time
	truncations       uint64 // a Flush that overlaps a truncation must not advance the recovery point
	dirDirty          bool   // files were created or removed since the directory was last synced
	// epochsUnsynced: the leader-epoch-checkpoint was rewritten without an fsync (see
	// persistNewEpochs); the next Flush syncs it before it advances the recovery point.
	epochsUnsynced bool
	// parentDirDirty: the log's directory was created and its entry in the log dir not
	// yet synced; the next Flush syncs it.
	parentDirDirty bool
	failed         error   // a write left the log in an unknown state: refuse further appends
	snapshots      []int64 // offsets of the producer state snapshots on disk, increasing
	cleanHistory   cleanHistory

	// afterTruncate, set by a Manager, rewrites the recovery point checkpoint once a
	// truncation lowered the recovery point; until it succeeds (checkpointStale) appends
	// are refused, so that nothing written past the truncation point is acknowledged while
	// the checkpoint on disk may still vouch for the truncated bytes. The same goes for
	// the cleaner checkpoint, which would otherwise call the new records clean.
	afterTruncate   func() error
	checkpointStale bool

	// afterLogStartAdvance, set by a Manager, writes the log-start-offset-checkpoint once
	// AdvanceLogStartOffset moved the start. It is called without l.mu.
	afterLogStartAdvance func() error

	// txnMu guards txns; it is taken with or without mu, never the other way round, and
	// held only briefly: high watermark moves take it without mu.
	txnMu sync.Mutex
	txns  txnTracker

	epochMu sync.Mutex // guards epochs; taken with or without mu, never the other way round
	epochs  epochCache

	// headersRead counts the batch headers read to open the log and to rebuild it after
	// truncations: what their cost grows with. Tests check it.
	headersRead int64

	// hadTxnData is set once the log holds a transactional or control batch (see
	// consumerview.go), before the batch is published; it is never cleared.
	hadTxnData atomic.Bool
	// viewHeadersRead counts the batch headers ConsumerView read. Tests check it.
	viewHeadersRead atomic.Int64
}

// OpenOptions tell Open what it needs to know about the previous run.
type OpenOptions struct {
	RecoveryPoint int64 // offset below which segments are known flushed (from the checkpoint); 0 = recover all
	CleanShutdown bool  // true when the previous run shut down cleanly: skip scanning, trust indexes (still rebuild missing/corrupt ones)
	HighWatermark int64 // from the replication offset checkpoint; clamped to the log's range
	Logger        logrus.FieldLogger
	Now           func() time.Time // nil = time.Now

	// CleanerCheckpoint is the first dirty offset of a compacted log, from the
	// cleaner-offset-checkpoint; clamped to the log's range. 0 = clean from the start.
	CleanerCheckpoint int64

	// LogStartOffset is the log start offset DeleteRecords left, from the
	// log-start-offset-checkpoint; clamped to the log's range. 0 = the first segment's base.
	LogStartOffset int64
}

// AppendResult describes a successful append.
type AppendResult struct {
	FirstOffset, LastOffset int64 // offsets assigned (or, if Duplicate, the ones assigned the first time)
	LogAppendTime           int64 // -1 unless the log uses LogAppendTime
	LogStartOffset          int64
	Duplicate               bool // an idempotent producer resent a batch already in the log: nothing appended
	RecordCount             int64
}

// Open opens the log in dir, creating the directory if absent, and recovers it. Its cost
// grows with the part of the log that may not have reached the disk, not with the log.
//
// The segments that may not have reached the disk are those from the one holding
// opts.RecoveryPoint on after an unclean shutdown; they are checked batch by batch (CRC
// included), the log is truncated at the first invalid or torn batch and later segments
// are deleted. The active segment's batch headers are always read, to check its indexes.
// The index files of the other segments are trusted after a cheap check (see
// segment.loadTrusted); those that fail it are rebuilt from their segment's batch headers.
//
// The producer state comes from the newest readable snapshot within the log's range,
// followed by the headers of the batches after it.
func Open(dir string, cfg Config, opts OpenOptions) (*Log, error) {
	return openLog(dir, cfg, opts, logShared{})
}

// logShared is what a Manager's logs share; a log opened alone has its own of each
// field left nil.
type logShared struct {
	reaper      *fileReaper
	readers     *readerPool
	files       *fileCache
	loadWindows *windowPool // loadWindowSize long: opening 100,000 logs must not allocate a window each
}

// windowPool lends read windows of one size.
type windowPool struct {
	size int
	pool sync.Pool
}

func (p *windowPool) get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, p.size)
	return &b
}

func (p *windowPool) put(b *[]byte) { p.pool.Put(b) }

// openLog opens the log in dir with what it shares with other logs.
func openLog(dir string, cfg Config, opts OpenOptions, shared logShared) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l := &Log{
		dir:         dir,
		logger:      opts.Logger,
		now:         opts.Now,
		reaper:      shared.reaper,
		readers:     shared.readers,
		files:       shared.files,
		loadWindows: shared.loadWindows,
		cfg:         cfg,
		producers:   newProducerStates(),
		txns:        newTxnTracker(),
	}
	if l.logger == nil {
		discard := logrus.New()
		discard.SetOutput(io.Discard)
		l.logger = discard
	}
	l.logger = l.logger.WithField("dir", dir)
	if l.now == nil {
		l.now = time.Now
	}
	if l.reaper == nil {
		l.reaper, l.ownsReaper = &fileReaper{}, true
	}
	if l.readers == nil {
		l.readers = &readerPool{}
	}
	if l.files == nil {
		l.files = newFileCache(0, l.logger)
	}
	if l.loadWindows == nil {
		l.loadWindows = &windowPool{size: loadWindowSize}
	}
	l.windows.New = func() any {
		b := make([]byte, readWindowSize)
		return &b
	}
	if err := l.load(opts); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	return l, nil
}

// load builds the log's state from its directory; on error it closes what it opened.
func (l *Log) load(opts OpenOptions) error {
	created, err := makeDir(l.dir)
	if err != nil {
		return err
	}
	bases, snapshots, err := l.cleanDir()
	if err != nil {
		return err
	}
	l.snapshots = snapshots
	now := l.now()
	windowBuf := l.loadWindows.get()
	defer l.loadWindows.put(windowBuf)
	window := *windowBuf
	var segs []*segment
	rebuildTxnFrom := int64(math.MaxInt64)
	closeAll := func() {
		for _, s := range segs {
			_ = s.close()
		}
	}
	if len(bases) == 0 {
		s, err := createSegment(l.files, l.dir, 0, now)
		if err != nil {
			return err
		}
		segs = append(segs, s)
		l.dirDirty = true
	} else {
		segs = make([]*segment, 0, len(bases))
		for _, base := range bases {
			segs = append(segs, openSegment(l.files, l.dir, base))
		}
		if segs, rebuildTxnFrom, err = l.recoverSegments(segs, opts, now, window); err != nil {
			closeAll()
			return err
		}
		if rebuildTxnFrom, err = l.loadTxnIndexes(segs, rebuildTxnFrom); err != nil {
			closeAll()
			return err
		}
	}
	if err := l.loadProducerState(segs, window, rebuildTxnFrom); err != nil {
		closeAll()
		return err
	}
	if err := l.loadEpochCache(segs, window, opts); err != nil {
		closeAll()
		return err
	}
	active := segs[len(segs)-1]
	if err := active.activate(false); err != nil {
		closeAll()
		return err
	}
	if created {
		// A new log holds nothing yet: its directory's entries, and its own entry in
		// the log dir, become durable with its first Flush, before the recovery point
		// vouches for anything in it. A broker creating 100,000 logs at once would
		// otherwise wait for 200,000 fsyncs (a crash loses only empty logs, which
		// replication recreates).
		l.dirDirty, l.parentDirDirty = true, true
	} else if err := l.syncDirIfDirty(); err != nil {
		closeAll()
		return err
	}
	l.publish(segs)
	l.logEndOffset.Store(active.nextOffset)
	// A clean shutdown flushed everything, and recoverSegments fsynced what it scanned.
	l.recoveryPoint.Store(active.nextOffset)
	if err := l.restoreLogStart(opts.LogStartOffset, now); err != nil {
		return err
	}
	l.SetHighWatermark(opts.HighWatermark)
	l.lastFlush = now
	l.loadCleanerState(opts.CleanerCheckpoint, now)
	return nil
}

// cleanDir removes leftovers of interrupted operations and returns the base offsets of the
// segments and the offsets of the producer state snapshots, in order.
func (l *Log) cleanDir() (bases, snapshots []int64, err error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list log dir: %w", err)
	}
	swapped, err := l.completeSwaps(entries)
	if err != nil {
		return nil, nil, err
	}
	if swapped {
		if entries, err = os.ReadDir(l.dir); err != nil {
			return nil, nil, fmt.Errorf("list log dir: %w", err)
		}
	}
	logs := make(map[int64]bool)
	var indexes []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if strings.HasSuffix(name, ".deleted") || strings.HasSuffix(name, ".cleaned") || strings.HasSuffix(name, ".swap") ||
			strings.HasSuffix(name, snapshotFileSuffix+tempFileSuffix) || strings.HasSuffix(name, txnIndexFileSuffix+tempFileSuffix) {
			l.logger.WithField("file", name).Info("removing leftover file")
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, nil, fmt.Errorf("remove leftover file: %w", err)
			}
			l.dirDirty = true
			continue
		}
		stem, suffix, ok := strings.Cut(name, ".")
		if !ok {
			continue
		}
		base, err := strconv.ParseInt(stem, 10, 64)
		if err != nil || base < 0 {
			continue
		}
		switch "." + suffix {
		case logFileSuffix:
			logs[base] = true
		case indexFileSuffix, timeIndexFileSuffix, txnIndexFileSuffix:
			indexes = append(indexes, name)
		case snapshotFileSuffix:
			snapshots = append(snapshots, base)
		}
	}
	for _, name := range indexes {
		stem, _, _ := strings.Cut(name, ".")
		base, _ := strconv.ParseInt(stem, 10, 64)
		if !logs[base] {
			l.logger.WithField("file", name).Info("removing index without a segment")
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, nil, fmt.Errorf("remove orphan index: %w", err)
			}
			l.dirDirty = true
		}
	}
	bases = make([]int64, 0, len(logs))
	for base := range logs {
		bases = append(bases, base)
	}
	slices.Sort(bases)
	slices.Sort(snapshots)
	return bases, snapshots, nil
}

// recoverSegments loads every segment (see Open) and returns those that remain, and the
// base offset of the first segment it recovered (checked or cut after an unclean
// shutdown), from which the transaction indexes are to be rebuilt (math.MaxInt64: none).
func (l *Log) recoverSegments(segs []*segment, opts OpenOptions, now time.Time, window []byte) (_ []*segment, rebuildTxnFrom int64, err error) {
	rebuildTxnFrom = math.MaxInt64
	// Segments from the one holding the recovery point on may have been written without
	// an fsync; a clean shutdown flushed everything. The active segment is read in full
	// regardless: its index files are appended to, never synced, and appends go on from
	// the state a full load rebuilds.
	verifyFrom := len(segs)
	if !opts.CleanShutdown {
		verifyFrom = max(0, sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > opts.RecoveryPoint })-1)
	}
	scanFrom := min(verifyFrom, len(segs)-1)
	minOffset := int64(0)
	for i, s := range segs {
		limit := int64(math.MaxInt64)
		if i+1 < len(segs) {
			limit = segs[i+1].baseOffset
		}
		o := loadOptions{
			verifyCRC:     i >= verifyFrom,
			minOffset:     minOffset,
			limitOffset:   limit,
			indexInterval: int64(l.cfg.IndexIntervalBytes),
			now:           now,
		}
		if i < scanFrom {
			distrust, headers, err := s.loadTrusted(o, window)
			l.headersRead += int64(headers)
			if err != nil {
				return segs, rebuildTxnFrom, err
			}
			if distrust == "" {
				minOffset = s.nextOffset
				continue
			}
			l.logger.WithFields(logrus.Fields{"segment": s.baseOffset, "reason": distrust}).
				Info("index files failed their check: reading the whole segment")
		}
		log := l.logger.WithField("segment", s.baseOffset)
		res, err := s.load(o, window)
		l.headersRead += int64(res.headers)
		if err != nil {
			return segs, rebuildTxnFrom, err
		}
		if res.indexRewritten != "" {
			log.WithField("reason", res.indexRewritten).Info("rebuilt offset index")
		}
		if res.timeIndexRewritten != "" {
			log.WithField("reason", res.timeIndexRewritten).Info("rebuilt time index")
		}
		if i >= verifyFrom || res.invalid != nil {
			rebuildTxnFrom = min(rebuildTxnFrom, s.baseOffset)
		}
		if res.invalid != nil {
			log.WithError(res.invalid).WithFields(logrus.Fields{
				"valid_bytes": res.validBytes, "file_bytes": res.fileBytes, "dropped_segments": len(segs) - i - 1,
			}).Warn("truncating log at an invalid batch")
			if err := s.log.Truncate(res.validBytes); err != nil {
				return segs, rebuildTxnFrom, fmt.Errorf("truncate %s: %w", s.log.Name(), err)
			}
			for _, later := range segs[i+1:] {
				if err := errors.Join(later.unlink(false), later.close()); err != nil {
					return segs, rebuildTxnFrom, err
				}
			}
			segs = segs[:i+1]
			l.dirDirty = true
		}
		if i >= verifyFrom || res.invalid != nil {
			if err := s.log.Sync(); err != nil {
				return segs, rebuildTxnFrom, fmt.Errorf("sync %s: %w", s.log.Name(), err)
			}
		}
		minOffset = s.nextOffset
		if res.invalid != nil {
			break
		}
	}
	return segs, rebuildTxnFrom, nil
}

// loadTxnIndexes reads the transaction indexes of the segments below rebuildFrom, those
// recovery did not rescan, and returns the base offset from which they must be rebuilt:
// rebuildFrom, or lower where a file is torn or inconsistent with its segment.
func (l *Log) loadTxnIndexes(segs []*segment, rebuildFrom int64) (int64, error) {
	for _, s := range segs {
		if s.baseOffset >= rebuildFrom {
			break
		}
		distrust, err := s.loadAborted()
		if err != nil {
			return rebuildFrom, err
		}
		if distrust != "" {
			l.logger.WithFields(logrus.Fields{"segment": s.baseOffset, "reason": distrust}).
				Warn("rebuilding transaction indexes from a torn or inconsistent one")
			return s.baseOffset, nil
		}
	}
	return rebuildFrom, nil
}

// publish replaces the segment list. The log start offset moves up to the first segment's
// base when it was below it, never down: a truncation that lowers it stores it first.
func (l *Log) publish(segs []*segment) {
	l.segments.Store(&segs)
	l.logStartOffset.Store(max(l.logStartOffset.Load(), segs[0].baseOffset))
}

func (l *Log) loadSegments() []*segment { return *l.segments.Load() }

func (l *Log) activeSegment() *segment {
	segs := l.loadSegments()
	return segs[len(segs)-1]
}

// Dir returns the directory of the log.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset returns the first offset of the log that readers may ask for: the base
// offset of its first segment, or further where DeleteRecords moved it (see
// AdvanceLogStartOffset).
func (l *Log) LogStartOffset() int64 { return l.logStartOffset.Load() }

// LogEndOffset returns the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.logEndOffset.Load() }

// RecoveryPoint returns the offset below which the log is known to be on disk: what the
// recovery-point-offset-checkpoint records for the next Open.
func (l *Log) RecoveryPoint() int64 { return l.recoveryPoint.Load() }

// Size returns the bytes of all segments.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range l.loadSegments() {
		n += s.size.Load()
	}
	return n
}

// UpdateConfig replaces the log's settings; invalid settings are logged and ignored.
func (l *Log) UpdateConfig(cfg Config) {
	if err := cfg.Validate(); err != nil {
		l.logger.WithError(err).Warn("ignoring invalid log config")
		return
	}
	l.mu.Lock()
	l.cfg = cfg
	l.mu.Unlock()
}

// writable reports why appends are refused, if they are. l.mu must be held.
func (l *Log) writable() error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("log %s failed earlier: %w", l.dir, l.failed)
	}
	return nil
}

// appendable reports why appends are refused, if they are, after retrying the checkpoint
// a truncation still owes. l.mu must be held.
func (l *Log) appendable() error {
	if err := l.writable(); err != nil {
		return err
	}
	return l.checkpointTruncation()
}

// checkpointTruncation has the Manager rewrite the recovery point checkpoint if a
// truncation lowered the recovery point since it was last written. l.mu must be held.
func (l *Log) checkpointTruncation() error {
	if !l.checkpointStale || l.afterTruncate == nil {
		return nil
	}
	if err := l.afterTruncate(); err != nil {
		return fmt.Errorf("rewrite recovery point checkpoint after truncation: %w", err)
	}
	l.checkpointStale = false
	return nil
}

// AppendAsLeader validates and appends the record batches in records (one or more magic-v2
// batches, as a Produce request carries them). Validation walks each batch's records (see
// validateRecords) without copying them. It modifies records in place: sets each batch's
// base offset (consecutively from the log end offset) and partition leader epoch (both
// outside the CRC), then writes the bytes unchanged otherwise (no re-encoding; with
// LogAppendTime the batch's max timestamp and timestamp-type attribute are set and the CRC
// recomputed).
//
// Either every batch is appended or none is. When an idempotent producer resends a batch
// already in the log, nothing is appended and the result reports the first append.
//
// origin says who writes (see AppendOrigin): a client's batches have their sequences
// checked and may not be control batches; a coordinator's have their producer epoch
// checked only, and its control batches must be transaction markers. Either way a
// transactional batch opens its producer's transaction on the partition, or continues
// it, and a marker ends it.
func (l *Log) AppendAsLeader(records []byte, leaderEpoch int32, origin AppendOrigin) (AppendResult, error) {
	refs, err := record.Split(records)
	if err != nil {
		return AppendResult{}, err
	}
	var markers []*record.Marker // by batch; nil unless a coordinator writes markers
	for i, r := range refs {
		if origin == OriginCoordinator {
			err = r.Hdr.CheckFromCoordinator()
		} else {
			err = r.Hdr.CheckFromClient()
		}
		if err != nil {
			return AppendResult{}, fmt.Errorf("batch at byte %d: %w", r.Pos, err)
		}
		if r.Hdr.IsControl() {
			m, err := parseMarkerIfControl(r.Hdr, r.Bytes(records))
			if err != nil {
				return AppendResult{}, fmt.Errorf("batch at byte %d: %w", r.Pos, err)
			}
			if markers == nil {
				markers = make([]*record.Marker, len(refs))
			}
			markers[i] = m
		}
	}
	l.mu.Lock()
	cfg := l.cfg
	l.mu.Unlock()
	// Outside the lock: decompressing a batch must not hold up the partition's other
	// appends. A configuration change racing with it applies from the next append.
	if err := l.validateRecords(records, refs, cfg); err != nil {
		return AppendResult{}, err
	}

	l.mu.Lock()
	res, flush, err := l.appendAsLeaderLocked(records, refs, leaderEpoch, origin, markers)
	l.mu.Unlock()
	if err != nil || !flush {
		return res, err
	}
	if err := l.Flush(); err != nil {
		return res, fmt.Errorf("flush.messages flush: %w", err)
	}
	return res, nil
}

// readerPool lends record readers to appends. A Manager's logs share one, so that the
// decoders the readers keep grow in number with the appends in flight, not with the
// partitions.
type readerPool struct{ pool sync.Pool }

func (p *readerPool) get() *record.Reader {
	if r, ok := p.pool.Get().(*record.Reader); ok {
		return r
	}
	return new(record.Reader)
}

func (p *readerPool) put(r *record.Reader) { p.pool.Put(r) }

// validateRecords checks the batches refs of records from a producer against cfg: their
// size, then their records (count and framing, and keys where the log is compacted), as
// Kafka's validator does. Values are stepped over, never materialised, and a compressed
// batch may decompress to record.DecompressedLimit at most, so no batch costs memory in
// proportion to the size its records inflate to.
func (l *Log) validateRecords(records []byte, refs []record.Ref, cfg Config) error {
	for _, r := range refs {
		if r.Hdr.Size() > int64(cfg.MaxMessageBytes) {
			return fmt.Errorf("batch of %d bytes exceeds max.message.bytes %d: %w", r.Hdr.Size(), cfg.MaxMessageBytes, kerr.MessageTooLarge)
		}
	}
	reader := l.readers.get()
	defer l.readers.put(reader)
	limit := record.DecompressedLimit(cfg.MaxMessageBytes)
	for _, r := range refs {
		if err := reader.Validate(r.Hdr, r.Bytes(records), limit, cfg.Compact); err != nil {
			return fmt.Errorf("batch at byte %d: %w", r.Pos, err)
		}
	}
	return nil
}

func (l *Log) appendAsLeaderLocked(records []byte, refs []record.Ref, leaderEpoch int32, origin AppendOrigin, markers []*record.Marker) (AppendResult, bool, error) {
	if err := l.appendable(); err != nil {
		return AppendResult{}, false, err
	}
	if err := l.checkLeaderEpoch(leaderEpoch); err != nil {
		return AppendResult{}, false, err
	}
	if len(refs) == 0 {
		return AppendResult{FirstOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: l.LogStartOffset()}, false, nil
	}
	now := l.now()
	appendTime := int64(-1)
	if l.cfg.LogAppendTime {
		appendTime = now.UnixMilli()
	}

	// Assign offsets and check producer sequences before writing anything, so that a
	// request with one bad batch leaves the log and the producer state untouched.
	producers := l.producers.begin()
	next := l.logEndOffset.Load()
	res := AppendResult{FirstOffset: next, LogAppendTime: appendTime}
	for i := range refs {
		h := &refs[i].Hdr
		h.BaseOffset, h.LeaderEpoch = next, leaderEpoch
		if appendTime >= 0 {
			h.Attributes |= record.LogAppendTimeBit
			h.MaxTimestamp = appendTime
		}
		var dup *producerBatch
		var err error
		if origin == OriginCoordinator {
			var m *record.Marker
			if markers != nil {
				m = markers[i]
			}
			err = producers.addFromCoordinator(*h, next, m)
		} else {
			dup, err = producers.addFromClient(*h, next)
		}
		if err != nil {
			return AppendResult{}, false, err
		}
		if dup != nil {
			res := AppendResult{
				FirstOffset: dup.firstOffset, LastOffset: dup.lastOffset, LogAppendTime: -1,
				LogStartOffset: l.LogStartOffset(), Duplicate: true,
				RecordCount: dup.lastOffset - dup.firstOffset + 1,
			}
			if appendTime >= 0 {
				res.LogAppendTime = dup.maxTimestamp
			}
			return res, false, nil
		}
		res.RecordCount += int64(h.RecordCount)
		next = h.NextOffset()
	}
	res.LastOffset = next - 1
	if err := l.assignLeaderEpoch(leaderEpoch, res.FirstOffset); err != nil {
		return AppendResult{}, false, err
	}

	for _, r := range refs {
		b := r.Bytes(records)
		record.StampBaseOffset(b, r.Hdr.BaseOffset)
		record.StampLeaderEpoch(b, leaderEpoch)
		if appendTime >= 0 {
			record.StampLogAppendTime(b, appendTime)
		}
	}
	aborted := l.trackTxnEvents(producers.events)
	if err := l.write(records, refs, now); err != nil {
		l.untrackTxnEvents(producers.events)
		return AppendResult{}, false, err
	}
	l.producers.apply(producers)
	if err := l.indexAborted(aborted, l.activeSegment()); err != nil {
		return AppendResult{}, false, err
	}
	res.LogStartOffset = l.LogStartOffset()
	return res, l.countUnflushed(res.RecordCount), nil
}

// AppendAsFollower appends batches copied from the leader's log, which keep their offsets,
// leader epochs and bytes. The first batch must not start below the log end offset; it
// may start above it where the leader's cleaner removed every record in between, as in
// Kafka. Batches of an epoch newer than the latest add it to the leader epoch cache,
// starting at their base offset.
func (l *Log) AppendAsFollower(records []byte) (AppendResult, error) {
	refs, err := record.Split(records)
	if err != nil {
		return AppendResult{}, err
	}
	l.mu.Lock()
	res, flush, err := l.appendAsFollowerLocked(records, refs)
	l.mu.Unlock()
	if err != nil || !flush {
		return res, err
	}
	if err := l.Flush(); err != nil {
		return res, fmt.Errorf("flush.messages flush: %w", err)
	}
	return res, nil
}

func (l *Log) appendAsFollowerLocked(records []byte, refs []record.Ref) (AppendResult, bool, error) {
	if err := l.appendable(); err != nil {
		return AppendResult{}, false, err
	}
	if len(refs) == 0 {
		return AppendResult{FirstOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: l.LogStartOffset()}, false, nil
	}
	leo := l.logEndOffset.Load()
	first := refs[0].Hdr.BaseOffset
	if first < leo {
		return AppendResult{}, false, fmt.Errorf("first batch at offset %d, log end offset is %d: %w", first, leo, ErrUnexpectedOffset)
	}
	producers := l.producers.begin()
	res := AppendResult{FirstOffset: first, LogAppendTime: -1}
	next := leo
	for _, r := range refs {
		if r.Hdr.BaseOffset < next {
			return AppendResult{}, false, fmt.Errorf("batch at offset %d overlaps the previous one ending at %d: %w", r.Hdr.BaseOffset, next-1, kerr.CorruptMessage)
		}
		m, err := parseMarkerIfControl(r.Hdr, r.Bytes(records))
		if err != nil {
			return AppendResult{}, false, fmt.Errorf("replicated batch at offset %d: %w", r.Hdr.BaseOffset, err)
		}
		producers.addReplicated(r.Hdr, m)
		res.RecordCount += int64(r.Hdr.RecordCount)
		next = r.Hdr.NextOffset()
	}
	res.LastOffset = next - 1
	if err := l.assignReplicatedEpochs(refs); err != nil {
		return AppendResult{}, false, err
	}
	aborted := l.trackTxnEvents(producers.events)
	if err := l.write(records, refs, l.now()); err != nil {
		l.untrackTxnEvents(producers.events)
		return AppendResult{}, false, err
	}
	l.producers.apply(producers)
	if err := l.indexAborted(aborted, l.activeSegment()); err != nil {
		return AppendResult{}, false, err
	}
	res.LogStartOffset = l.LogStartOffset()
	return res, l.countUnflushed(res.RecordCount), nil
}

// countUnflushed adds appended messages to the unflushed count and reports whether
// flush.messages now asks for a flush. l.mu must be held.
func (l *Log) countUnflushed(messages int64) bool {
	l.unflushedMessages += messages
	return l.cfg.flushesByMessages() && l.unflushedMessages >= l.cfg.FlushMessages
}

// write appends batches that carry their final offsets to the active segment, rolling
// first if needed, and publishes them. l.mu must be held.
func (l *Log) write(records []byte, refs []record.Ref, now time.Time) error {
	first, last := refs[0].Hdr.BaseOffset, refs[len(refs)-1].Hdr.LastOffset()
	l.noteTxnBatches(refs)
	seg, err := l.maybeRoll(int64(len(records)), len(refs), first, last, now)
	if err != nil {
		return err
	}
	if last-seg.baseOffset > math.MaxInt32 {
		return fmt.Errorf("batches span offsets %d to %d, too many for one segment: %w", refs[0].Hdr.BaseOffset, last, kerr.InvalidRecord)
	}
	pos, err := seg.writeAt(records)
	if err != nil {
		// Cut off whatever part was written; if even that fails, the file's tail is unknown.
		if terr := seg.log.Truncate(pos); terr != nil {
			l.failed = errors.Join(err, terr)
			l.logger.WithError(l.failed).Error("log failed: cannot undo a partial write")
		}
		return err
	}
	if err := seg.commit(pos, records, refs, int64(l.cfg.IndexIntervalBytes), now); err != nil {
		l.logger.WithError(err).Warn("index files not updated; they will be rebuilt at the next open")
	}
	l.logEndOffset.Store(seg.nextOffset)
	return nil
}

// maybeRoll returns the segment to append to, rolling a new one if the active segment
// cannot take an append of size bytes in n batches from firstOffset to lastOffset. The
// new segment starts at firstOffset, which is the log end offset but for a follower
// copying past records its leader compacted away. l.mu must be held.
func (l *Log) maybeRoll(size int64, n int, firstOffset, lastOffset int64, now time.Time) (*segment, error) {
	segs := l.loadSegments()
	active := segs[len(segs)-1]
	if !l.shouldRoll(active, size, n, lastOffset, now) {
		return active, nil
	}
	seg, err := createSegment(l.files, l.dir, firstOffset, now)
	if err != nil {
		return nil, err
	}
	if err := active.seal(); err != nil {
		l.logger.WithError(err).Warn("index files of the rolled segment not finished; they will be rebuilt at the next open")
	}
	l.publish(append(slices.Clip(segs), seg))
	l.dirDirty = true
	// The producer state is that of the batches below the new segment: the batches of the
	// append that rolls are not applied yet.
	l.takeSnapshot(seg.baseOffset)
	l.logger.WithFields(logrus.Fields{"segment": seg.baseOffset, "previous_bytes": active.size.Load()}).Debug("rolled segment")
	return seg, nil
}

func (l *Log) shouldRoll(active *segment, size int64, n int, lastOffset int64, now time.Time) bool {
	current := active.size.Load()
	if current == 0 {
		return false
	}
	offsets, times := active.index.counts()
	cfg := l.cfg
	if active.rollJitterMs < 0 {
		active.rollJitterMs = cfg.rollJitterMs()
	}
	return current+size > cfg.segmentByteLimit() ||
		(cfg.rollMs() > 0 && now.Sub(active.rollBase).Milliseconds() > cfg.rollMs()-active.rollJitterMs) ||
		offsets+n > cfg.maxOffsetIndexEntries() ||
		times+n+1 > cfg.maxTimeIndexEntries() ||
		lastOffset-active.baseOffset > math.MaxInt32
}

// Read returns the batches holding offsets >= offset (starting with the batch that contains offset),
// stopping before any batch whose last offset is >= maxOffset (the high watermark, exclusive) and
// after maxBytes, but always at least one whole batch when one is readable (KIP-74).
// offset == LogEndOffset (or == maxOffset) gives an empty Slice and no error. offset < LogStartOffset
// or > LogEndOffset gives an error wrapping kerr.OffsetOutOfRange. Reads only from one segment.
// Safe to call concurrently with appends and with other reads.
func (l *Log) Read(offset, maxOffset int64, maxBytes int32) (Slice, error) {
	if l.closed.Load() {
		return Slice{}, ErrClosed
	}
	// The end offset is published after the bytes and segment list it covers, so loading
	// it first guarantees the segments below hold every batch up to it.
	end := l.logEndOffset.Load()
	segs := l.loadSegments()
	start := l.logStartOffset.Load()
	i := sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > offset }) - 1
	if offset < start || offset > end || i < 0 {
		return Slice{}, fmt.Errorf("offset %d outside the log's range [%d, %d]: %w", offset, start, end, kerr.OffsetOutOfRange)
	}
	if offset == end || offset >= maxOffset {
		return Slice{}, nil
	}
	window := l.windows.Get().(*[]byte)
	defer l.windows.Put(window)
	for _, s := range segs[i:] {
		pos, size, next, found, err := s.read(offset, maxOffset, int64(maxBytes), *window)
		if err != nil {
			return Slice{}, fmt.Errorf("read offset %d: %w", offset, err)
		}
		if found {
			return Slice{File: s.log, Pos: pos, Size: size, NextOffset: next}, nil
		}
		// Offsets can be missing from the end of a segment (compaction, a batch
		// straddling a truncation point): the next segment holds what follows.
	}
	return Slice{}, nil
}

// OffsetForTimestamp returns the earliest offset whose record timestamp is >= ts, and that
// record's timestamp, found through the time index (sparse, then a scan from there) and by
// decoding the records of the one batch where the answer lies. ok is false when no record
// has a timestamp >= ts. The special ListOffsets timestamps (-1 latest, -2 earliest) and
// the high watermark bound are the caller's business.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	if l.closed.Load() {
		return 0, 0, false, ErrClosed
	}
	window := l.windows.Get().(*[]byte)
	defer l.windows.Put(window)
	for _, s := range l.loadSegments() {
		if s.maxTimestamp.Load() < ts {
			continue
		}
		offset, timestamp, ok, err := s.findTimestamp(ts, *window)
		if err != nil {
			return 0, 0, false, fmt.Errorf("find timestamp %d: %w", ts, err)
		}
		if ok {
			// A record below the log start offset (DeleteRecords moved it inside a
			// segment) cannot be read: answer the log start instead. This is exact unless
			// records of the batch holding the start go back in time.
			return max(offset, l.logStartOffset.Load()), timestamp, true, nil
		}
	}
	return 0, 0, false, nil
}

// Flush fsyncs everything written and advances the recovery point. Appends go on while
// it runs.
func (l *Log) Flush() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()

	l.mu.Lock()
	if err := l.writable(); err != nil {
		l.mu.Unlock()
		return err
	}
	target := l.logEndOffset.Load()
	if target == 0 {
		// No record was ever written: a crash can lose nothing of this log that an open
		// would not recreate (its files, its directory, leader epochs without batches).
		// Shutting down a broker that created 100,000 logs must not sync them all.
		l.mu.Unlock()
		return nil
	}
	messages := l.unflushedMessages
	truncations := l.truncations
	dirDirty := l.dirDirty
	l.dirDirty = false
	epochsUnsynced := l.epochsUnsynced
	l.epochsUnsynced = false
	parentDirDirty := l.parentDirDirty
	l.parentDirDirty = false
	segs := l.loadSegments()
	l.mu.Unlock()

	rp := l.recoveryPoint.Load()
	if target <= rp && !dirDirty && !epochsUnsynced {
		return nil // nothing written since the last flush
	}
	from := max(0, sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > rp })-1)
	for _, s := range segs[from:] {
		// A segment deleted meanwhile may already be closed: nothing of it needs syncing.
		if err := s.log.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			l.restoreDirDirty(dirDirty)
			l.restoreEpochsUnsynced(epochsUnsynced)
			l.restoreParentDirDirty(parentDirDirty)
			return fmt.Errorf("flush %s: %w", s.log.Name(), err)
		}
	}
	if epochsUnsynced {
		// Before the recovery point passes the batches of the epochs it lists: an open
		// rescans only the batches above the recovery point for epochs the file lacks.
		if err := syncFile(filepath.Join(l.dir, leaderEpochCheckpointFile)); err != nil {
			l.restoreDirDirty(dirDirty)
			l.restoreEpochsUnsynced(epochsUnsynced)
			l.restoreParentDirDirty(parentDirDirty)
			return fmt.Errorf("flush leader epoch checkpoint: %w", err)
		}
	}
	if dirDirty {
		if err := syncDir(l.dir); err != nil {
			l.restoreDirDirty(dirDirty)
			l.restoreEpochsUnsynced(epochsUnsynced)
			l.restoreParentDirDirty(parentDirDirty)
			return err
		}
	}
	if parentDirDirty {
		if err := syncDir(filepath.Dir(l.dir)); err != nil {
			l.restoreParentDirDirty(parentDirDirty)
			return err
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.unflushedMessages = max(0, l.unflushedMessages-messages)
	l.lastFlush = l.now()
	if l.truncations == truncations && target > l.recoveryPoint.Load() {
		l.recoveryPoint.Store(target)
	}
	return nil
}

func (l *Log) restoreParentDirDirty(dirty bool) {
	if dirty {
		l.mu.Lock()
		l.parentDirDirty = true
		l.mu.Unlock()
	}
}

func (l *Log) restoreEpochsUnsynced(unsynced bool) {
	if unsynced {
		l.mu.Lock()
		l.epochsUnsynced = true
		l.mu.Unlock()
	}
}

func (l *Log) restoreDirDirty(dirty bool) {
	if dirty {
		l.mu.Lock()
		l.dirDirty = true
		l.mu.Unlock()
	}
}

// flushIfDue flushes when flush.ms says the last flush is too old and there is something
// to flush. Manager's loop calls it.
func (l *Log) flushIfDue(now time.Time) error {
	l.mu.Lock()
	due := !l.closed.Load() && l.cfg.flushesByTime() &&
		now.Sub(l.lastFlush).Milliseconds() >= l.cfg.FlushMs &&
		l.logEndOffset.Load() > l.recoveryPoint.Load()
	l.mu.Unlock()
	if !due {
		return nil
	}
	return l.Flush()
}

// syncDirIfDirty fsyncs the log directory if files were created or removed. l.mu must be
// held or the log not yet shared.
func (l *Log) syncDirIfDirty() error {
	if !l.dirDirty {
		return nil
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	l.dirDirty = false
	return nil
}

// Close snapshots the producer state, so that the next open need not replay the log, and
// closes the log's files. It does not flush: call Flush first for durability.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Swap(true) {
		return nil
	}
	if l.failed == nil {
		l.takeSnapshot(l.logEndOffset.Load())
	}
	segs := l.loadSegments()
	errs := []error{segs[len(segs)-1].seal()}
	for _, s := range segs {
		errs = append(errs, s.close())
	}
	if l.ownsReaper {
		errs = append(errs, l.reaper.closeAll())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close log %s: %w", l.dir, err)
	}
	return nil
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	return l.deleteFiles(l.dir)
}

// deleteFiles closes the log and removes dir (the log's directory, perhaps renamed). The
// segment files open now are handed to the reaper, pinned open, because readers may still
// be sending from them; a reader of one closed already finds it gone.
func (l *Log) deleteFiles(dir string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if !l.closed.Swap(true) {
		due := l.now().Add(time.Duration(l.cfg.FileDeleteDelayMs) * time.Millisecond)
		for _, s := range l.loadSegments() {
			if s.indexFiles != nil {
				errs = append(errs, s.indexFiles.close())
				s.indexFiles = nil
			}
			if s.log.pinIfOpen() {
				l.reaper.add(pendingClose{file: s.log, pinned: true, due: due})
			} else {
				errs = append(errs, s.log.close())
			}
		}
	}
	if l.ownsReaper {
		// Nobody would close them later.
		errs = append(errs, l.reaper.closeAll())
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete log %s: %w", l.dir, err)
	}
	return nil
}

// makeDir creates dir if absent and reports whether it did.
func makeDir(dir string) (created bool, err error) {
	if _, err := os.Stat(dir); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("stat log dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("create log dir: %w", err)
	}
	return true, nil
}

// syncDir fsyncs a directory, making the creation, removal and renaming of its entries durable.
func syncDir(dir string) error { return syncFile(dir) }

// syncFile fsyncs the file or directory at path.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open for sync: %w", err)
	}
	if err := f.Sync(); err != nil {
		return errors.Join(fmt.Errorf("sync %s: %w", path, err), f.Close())
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
