package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	Dirs                   []string // log.dirs
	BrokerID               int32
	ClusterID              string
	RetentionCheckInterval time.Duration // log.retention.check.interval.ms
	FlushSchedulerInterval time.Duration // how often to check flush.ms (log.flush.scheduler.interval.ms; default 1s is fine for us)
	CheckpointInterval     time.Duration // log.flush.offset.checkpoint.interval.ms (60s)
	Logger                 logrus.FieldLogger

	// MaxOpenFiles bounds the segment and index files kept open while unused
	// (kzoo.max.open.files); 0 = DefaultMaxOpenFiles. Files in use are never closed, so
	// the bound is exceeded, and FileCacheStats.OverLimit counts it, when every open file
	// is in use.
	MaxOpenFiles int

	// The log cleaner, which compacts the logs whose cleanup.policy includes compact.
	// All but CleanerEnabled can change later with SetCleaner.
	CleanerEnabled          bool          // log.cleaner.enable
	CleanerBackoff          time.Duration // log.cleaner.backoff.ms: the pause between passes over the logs (15s)
	CleanerDedupeBufferSize int64         // log.cleaner.dedupe.buffer.size: memory for the key maps of all threads (128 MiB)
	CleanerThreads          int           // log.cleaner.threads: logs cleaned at once (1)
	// CleanerIOMaxBytesPerSecond is log.cleaner.io.max.bytes.per.second: what the cleaner
	// threads together may read; 0 or +Inf is unlimited.
	CleanerIOMaxBytesPerSecond float64
}

// CleanerSettings are the log cleaner's settings that can change while it runs; see
// ManagerConfig.
type CleanerSettings struct {
	Backoff             time.Duration
	DedupeBufferSize    int64
	Threads             int
	IOMaxBytesPerSecond float64
}

// Defaults for the intervals of ManagerConfig left at zero.
const (
	defaultRetentionCheckInterval = 5 * time.Minute
	defaultFlushSchedulerInterval = time.Second
	defaultCheckpointInterval     = time.Minute
	defaultCleanerBackoff         = 15 * time.Second
	defaultCleanerDedupeBuffer    = 128 << 20
)

// Manager owns the partition logs of a broker's log directories.
type Manager struct {
	cfg     ManagerConfig
	logger  logrus.FieldLogger
	dirs    []*logDir
	reaper  fileReaper // files of deleted segments of every log
	readers readerPool // of every log's appends
	files   *fileCache // every log's segment files

	loadWindows windowPool // of every log's opens

	checkpointMu sync.Mutex // serialises checkpoint writes

	// cleaner holds the cleaner's current settings (SetCleaner); each pass reads them.
	// cleanerChanged wakes the cleaner to pick up a new backoff; cleanerThrottle is
	// shared by its threads.
	cleaner         atomic.Pointer[CleanerSettings]
	cleanerChanged  chan struct{}
	cleanerThrottle ioThrottle

	mu      sync.Mutex // guards what follows, and logDir.partitions and logDir.recoveryPoints
	logs    map[zkpaths.TopicPartition]*managedLog
	opening map[zkpaths.TopicPartition]*openCall
	onDisk  map[zkpaths.TopicPartition]*logDir // found at start, not opened or removed since
	closed  bool
}

// logDir is one of the broker's log.dirs.
type logDir struct {
	path           string
	lock           *os.File
	cleanShutdown  bool                             // the previous run left the clean shutdown marker
	recoveryPoints map[zkpaths.TopicPartition]int64 // of partitions not opened yet, from the checkpoint
	highWatermarks map[zkpaths.TopicPartition]int64 // likewise, from replication-offset-checkpoint
	firstDirty     map[zkpaths.TopicPartition]int64 // likewise, from cleaner-offset-checkpoint
	logStarts      map[zkpaths.TopicPartition]int64 // likewise, from log-start-offset-checkpoint
	partitions     int                              // on disk, opened or not: for placing new ones
}

type managedLog struct {
	log *Log
	dir *logDir
}

// openCall lets concurrent GetOrCreate calls for one partition share one open.
type openCall struct {
	done chan struct{}
	log  *Log
	err  error
}

// NewManager prepares the log directories: per dir it creates it, takes an exclusive lock
// on .lock, checks or writes meta.properties, reads recovery-point-offset-checkpoint and
// replication-offset-checkpoint and consumes the clean shutdown marker. Partition logs are
// opened by GetOrCreate.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("no log dirs configured")
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = defaultRetentionCheckInterval
	}
	if cfg.FlushSchedulerInterval <= 0 {
		cfg.FlushSchedulerInterval = defaultFlushSchedulerInterval
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = defaultCheckpointInterval
	}
	m := &Manager{
		cfg:            cfg,
		cleanerChanged: make(chan struct{}, 1),
		logger:         cfg.Logger,
		logs:           make(map[zkpaths.TopicPartition]*managedLog),
		opening:        make(map[zkpaths.TopicPartition]*openCall),
		onDisk:         make(map[zkpaths.TopicPartition]*logDir),
	}
	if m.logger == nil {
		discard := logrus.New()
		discard.SetOutput(io.Discard)
		m.logger = discard
	}
	if cfg.MaxOpenFiles < 0 {
		return nil, fmt.Errorf("max open files %d must not be negative", cfg.MaxOpenFiles)
	}
	m.files = newFileCache(cfg.MaxOpenFiles, m.logger)
	m.loadWindows.size = loadWindowSize
	m.SetCleaner(CleanerSettings{
		Backoff:             cfg.CleanerBackoff,
		DedupeBufferSize:    cfg.CleanerDedupeBufferSize,
		Threads:             cfg.CleanerThreads,
		IOMaxBytesPerSecond: cfg.CleanerIOMaxBytesPerSecond,
	})
	for _, path := range cfg.Dirs {
		d, err := m.openDir(path)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("log dir %s: %w", path, err), m.releaseLocks())
		}
		m.dirs = append(m.dirs, d)
	}
	return m, nil
}

func (m *Manager) openDir(path string) (*logDir, error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	d := &logDir{path: path}
	lock, err := lockDir(path)
	if err != nil {
		return nil, err
	}
	d.lock = lock
	if err := m.prepareDir(d); err != nil {
		return nil, errors.Join(err, unlockDir(lock))
	}
	return d, nil
}

func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(path, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("locked by another process (is another broker using it?)")
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) error {
	// Closing the descriptor releases the lock.
	if err := f.Close(); err != nil {
		return fmt.Errorf("release lock: %w", err)
	}
	return nil
}

func (m *Manager) releaseLocks() error {
	var errs []error
	for _, d := range m.dirs {
		errs = append(errs, unlockDir(d.lock))
	}
	return errors.Join(errs...)
}

// prepareDir checks the identity of a locked log dir and reads its state; the caller records
// the partitions found.
func (m *Manager) prepareDir(d *logDir) error {
	if err := m.checkMetaProperties(d.path); err != nil {
		return err
	}

	var err error
	// Losing the recovery point checkpoint only costs a longer recovery.
	if d.recoveryPoints, err = m.readCheckpoint(d.path, recoveryPointCheckpointFile, "every partition will be recovered"); err != nil {
		return err
	}
	// Losing the high watermarks only holds consumers back until the leaders advance them.
	if d.highWatermarks, err = m.readCheckpoint(d.path, highWatermarkCheckpointFile, "high watermarks restart at the log start"); err != nil {
		return err
	}
	// Losing the cleaner checkpoint only costs cleaning compacted logs from their start.
	if d.firstDirty, err = m.readCheckpoint(d.path, cleanerCheckpointFile, "compacted logs are cleaned from their start"); err != nil {
		return err
	}
	// Losing the log start offsets brings back the records DeleteRecords deleted from
	// segments still on disk; followers relearn them from their leader.
	if d.logStarts, err = m.readCheckpoint(d.path, logStartCheckpointFile, "log start offsets fall back to the first segment of each log"); err != nil {
		return err
	}

	marker := filepath.Join(d.path, cleanShutdownFile)
	switch _, err := os.Stat(marker); {
	case err == nil:
		d.cleanShutdown = true
		// From now on a crash must not pass for a clean shutdown.
		if err := os.Remove(marker); err != nil {
			return fmt.Errorf("remove clean shutdown marker: %w", err)
		}
		if err := syncDir(d.path); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("stat clean shutdown marker: %w", err)
	}

	entries, err := os.ReadDir(d.path)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		if strings.HasSuffix(name, "-delete") {
			// A Remove interrupted by a crash.
			m.logger.WithField("dir", filepath.Join(d.path, name)).Info("removing partition marked for deletion")
			if err := os.RemoveAll(filepath.Join(d.path, name)); err != nil {
				return fmt.Errorf("remove deleted partition: %w", err)
			}
			continue
		}
		tp, ok := parsePartitionDir(name)
		if !ok {
			continue
		}
		if other, dup := m.onDisk[tp]; dup {
			return fmt.Errorf("partition %s is in both %s and %s", tp, other.path, d.path)
		}
		m.onDisk[tp] = d
		d.partitions++
	}
	return nil
}

// readCheckpoint reads an offset checkpoint file of a log dir; a missing or malformed one
// reads as empty, the latter with a warning saying what that costs.
func (m *Manager) readCheckpoint(dir, name, cost string) (map[zkpaths.TopicPartition]int64, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return make(map[zkpaths.TopicPartition]int64), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	offsets, err := parseOffsetCheckpoint(data)
	if err != nil {
		m.logger.WithError(err).WithFields(logrus.Fields{"dir": dir, "file": name}).Warn("ignoring malformed checkpoint: " + cost)
		return make(map[zkpaths.TopicPartition]int64), nil
	}
	return offsets, nil
}

// checkMetaProperties makes sure a log dir belongs to this broker and cluster, and writes
// meta.properties into a new one.
func (m *Manager) checkMetaProperties(dir string) error {
	path := filepath.Join(dir, metaPropertiesFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return writeFileAtomic(path, formatMetaProperties(m.cfg.BrokerID, m.cfg.ClusterID, time.Now()))
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", metaPropertiesFile, err)
	}
	meta, err := parseMetaProperties(data)
	if err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	if meta.version != "0" {
		return fmt.Errorf("%s has version %s; only version 0 is supported", path, meta.version)
	}
	if want := strconv.Itoa(int(m.cfg.BrokerID)); meta.brokerID != want {
		return fmt.Errorf("%s says broker.id=%s but this broker is %s: the directory belongs to another broker", path, meta.brokerID, want)
	}
	switch {
	case m.cfg.ClusterID == "" || meta.clusterID == m.cfg.ClusterID:
		return nil
	case meta.clusterID == "":
		// Written before the cluster id was known; record it now.
		return writeFileAtomic(path, formatMetaProperties(m.cfg.BrokerID, m.cfg.ClusterID, time.Now()))
	default:
		return fmt.Errorf("%s says cluster.id=%s but this broker's cluster is %s: the directory belongs to another cluster", path, meta.clusterID, m.cfg.ClusterID)
	}
}

// Existing returns the partition directories found on disk that are not opened yet.
func (m *Manager) Existing() []zkpaths.TopicPartition {
	m.mu.Lock()
	defer m.mu.Unlock()
	tps := make([]zkpaths.TopicPartition, 0, len(m.onDisk))
	for tp := range m.onDisk {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, zkpaths.TopicPartition.Compare)
	return tps
}

// Get returns the log of an opened partition.
func (m *Manager) Get(tp zkpaths.TopicPartition) (*Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ml, ok := m.logs[tp]
	if !ok {
		return nil, false
	}
	return ml.log, true
}

// GetOrCreate returns the partition's log, opening (and recovering) it if it is on disk
// and creating it otherwise, in the log dir with the fewest partitions. cfg applies only
// when the log is opened by this call; use Log.UpdateConfig to change an open log.
func (m *Manager) GetOrCreate(tp zkpaths.TopicPartition, cfg Config) (*Log, error) {
	if err := validatePartition(tp); err != nil {
		return nil, err
	}
	m.mu.Lock()
	for {
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		if ml, ok := m.logs[tp]; ok {
			m.mu.Unlock()
			return ml.log, nil
		}
		call, ok := m.opening[tp]
		if !ok {
			break
		}
		m.mu.Unlock()
		<-call.done
		if call.err != nil {
			return nil, call.err
		}
		m.mu.Lock()
	}
	dir, existed := m.onDisk[tp]
	if !existed {
		dir = m.leastLoadedDir()
		dir.partitions++
	}
	recoveryPoint, highWatermark, firstDirty, logStart := dir.recoveryPoints[tp], dir.highWatermarks[tp], dir.firstDirty[tp], dir.logStarts[tp]
	call := &openCall{done: make(chan struct{})}
	m.opening[tp] = call
	m.mu.Unlock()

	log, err := openLog(filepath.Join(dir.path, tp.String()), cfg, OpenOptions{
		RecoveryPoint: recoveryPoint,
		// A partition created now has nothing to recover.
		CleanShutdown: dir.cleanShutdown || !existed,
		HighWatermark: highWatermark,
		Logger:        m.logger.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}),

		CleanerCheckpoint: firstDirty,
		LogStartOffset:    logStart,
	}, logShared{reaper: &m.reaper, readers: &m.readers, files: m.files, loadWindows: &m.loadWindows})

	m.mu.Lock()
	delete(m.opening, tp)
	switch {
	case err != nil:
		if !existed {
			dir.partitions--
		}
		err = fmt.Errorf("open partition %s: %w", tp, err)
	case m.closed:
		err = errors.Join(ErrClosed, log.Close())
		log = nil
	default:
		// Not shared yet: no lock needed.
		log.afterTruncate = m.checkpointAfterTruncation
		log.afterLogStartAdvance = m.checkpointAfterLogStartAdvance
		m.logs[tp] = &managedLog{log: log, dir: dir}
		delete(m.onDisk, tp)
		delete(dir.recoveryPoints, tp)
		delete(dir.highWatermarks, tp)
		delete(dir.firstDirty, tp)
		delete(dir.logStarts, tp)
	}
	m.mu.Unlock()
	call.log, call.err = log, err
	close(call.done)
	return log, err
}

// leastLoadedDir returns the log dir holding the fewest partitions. m.mu must be held.
func (m *Manager) leastLoadedDir() *logDir {
	best := m.dirs[0]
	for _, d := range m.dirs[1:] {
		if d.partitions < best.partitions {
			best = d
		}
	}
	return best
}

// Remove closes the partition's log, if open, and deletes its files: the directory is
// first renamed to "<topic>-<partition>.<hex>-delete", so that a crash midway leaves
// something the next start recognises and finishes removing.
func (m *Manager) Remove(tp zkpaths.TopicPartition) error {
	m.mu.Lock()
	for {
		call, ok := m.opening[tp]
		if !ok {
			break
		}
		m.mu.Unlock()
		<-call.done
		m.mu.Lock()
	}
	ml, open := m.logs[tp]
	dir, onDisk := m.onDisk[tp]
	if open {
		dir = ml.dir
	}
	if open || onDisk {
		delete(m.logs, tp)
		delete(m.onDisk, tp)
		delete(dir.recoveryPoints, tp)
		delete(dir.highWatermarks, tp)
		delete(dir.firstDirty, tp)
		delete(dir.logStarts, tp)
		dir.partitions--
	}
	m.mu.Unlock()
	if !open && !onDisk {
		return nil
	}

	var suffix [16]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return fmt.Errorf("remove partition %s: %w", tp, err)
	}
	path := filepath.Join(dir.path, tp.String())
	doomed := filepath.Join(dir.path, tp.String()+"."+hex.EncodeToString(suffix[:])+"-delete")
	if err := os.Rename(path, doomed); err != nil {
		return fmt.Errorf("remove partition %s: %w", tp, err)
	}
	if err := syncDir(dir.path); err != nil {
		return fmt.Errorf("remove partition %s: %w", tp, err)
	}
	if open {
		if err := ml.log.deleteFiles(doomed); err != nil {
			return fmt.Errorf("remove partition %s: %w", tp, err)
		}
		return nil
	}
	if err := os.RemoveAll(doomed); err != nil {
		return fmt.Errorf("remove partition %s: %w", tp, err)
	}
	return nil
}

// Run does the background work until ctx is done: retention every RetentionCheckInterval,
// flush.ms checks and closing the due files of deleted segments every
// FlushSchedulerInterval, and recovery point and high watermark checkpoints every
// CheckpointInterval. With CleanerEnabled, the log cleaner runs beside them in a
// goroutine of its own, which Run stops before it returns.
func (m *Manager) Run(ctx context.Context) {
	if m.cfg.CleanerEnabled {
		cleanerDone := make(chan struct{})
		go func() {
			defer close(cleanerDone)
			m.runCleaner(ctx)
		}()
		defer func() { <-cleanerDone }()
	}
	retention := time.NewTicker(m.cfg.RetentionCheckInterval)
	defer retention.Stop()
	flush := time.NewTicker(m.cfg.FlushSchedulerInterval)
	defer flush.Stop()
	checkpoint := time.NewTicker(m.cfg.CheckpointInterval)
	defer checkpoint.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retention.C:
			m.applyRetention()
		case <-flush.C:
			now := time.Now()
			m.flushDue(now)
			if err := m.reaper.closeDue(now); err != nil {
				m.logger.WithError(err).Warn("closing files of deleted segments")
			}
		case <-checkpoint.C:
			if err := m.writeCheckpoints(nil); err != nil {
				m.logger.WithError(err).Error("writing checkpoints")
			}
		}
	}
}

// openLogs returns the opened logs.
func (m *Manager) openLogs() map[zkpaths.TopicPartition]*managedLog {
	m.mu.Lock()
	defer m.mu.Unlock()
	logs := make(map[zkpaths.TopicPartition]*managedLog, len(m.logs))
	for tp, ml := range m.logs {
		logs[tp] = ml
	}
	return logs
}

func (m *Manager) applyRetention() {
	for tp, ml := range m.openLogs() {
		if _, err := ml.log.DeleteExpiredSegments(); err != nil && !errors.Is(err, ErrClosed) {
			m.logger.WithError(err).WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}).Error("applying retention")
		}
	}
}

func (m *Manager) flushDue(now time.Time) {
	for tp, ml := range m.openLogs() {
		if err := ml.log.flushIfDue(now); err != nil && !errors.Is(err, ErrClosed) {
			m.logger.WithError(err).WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}).Error("flushing log")
		}
	}
}

// writeCheckpoints writes each log dir's recovery-point-offset-checkpoint,
// replication-offset-checkpoint, cleaner-offset-checkpoint and log-start-offset-checkpoint:
// the recovery points, high watermarks, first dirty offsets and log start offsets of its
// open logs, and those read at start for partitions not opened since. It returns the dirs it failed to write with their errors
// joined.
func (m *Manager) writeCheckpoints(failed map[*logDir]bool) error {
	m.checkpointMu.Lock()
	defer m.checkpointMu.Unlock()

	type dirOffsets struct {
		recoveryPoints, highWatermarks, firstDirty, logStarts map[zkpaths.TopicPartition]int64
	}
	m.mu.Lock()
	perDir := make(map[*logDir]dirOffsets, len(m.dirs))
	notOpened := func(d *logDir, offsets map[zkpaths.TopicPartition]int64) map[zkpaths.TopicPartition]int64 {
		kept := make(map[zkpaths.TopicPartition]int64, len(offsets))
		for tp, off := range offsets {
			if m.onDisk[tp] == d {
				kept[tp] = off
			}
		}
		return kept
	}
	for _, d := range m.dirs {
		perDir[d] = dirOffsets{notOpened(d, d.recoveryPoints), notOpened(d, d.highWatermarks), notOpened(d, d.firstDirty), notOpened(d, d.logStarts)}
	}
	for tp, ml := range m.logs {
		perDir[ml.dir].recoveryPoints[tp] = ml.log.RecoveryPoint()
		perDir[ml.dir].highWatermarks[tp] = ml.log.HighWatermark()
		if firstDirty := ml.log.cleanerCheckpoint.Load(); firstDirty > 0 {
			perDir[ml.dir].firstDirty[tp] = firstDirty
		}
		// As Kafka: only the starts that the segments do not tell.
		if start := ml.log.LogStartOffset(); start > ml.log.firstSegmentBase() {
			perDir[ml.dir].logStarts[tp] = start
		}
	}
	m.mu.Unlock()

	var errs []error
	for _, d := range m.dirs {
		err := errors.Join(
			writeFileAtomic(filepath.Join(d.path, recoveryPointCheckpointFile), formatOffsetCheckpoint(perDir[d].recoveryPoints)),
			writeFileAtomic(filepath.Join(d.path, highWatermarkCheckpointFile), formatOffsetCheckpoint(perDir[d].highWatermarks)),
			writeFileAtomic(filepath.Join(d.path, cleanerCheckpointFile), formatOffsetCheckpoint(perDir[d].firstDirty)),
			writeFileAtomic(filepath.Join(d.path, logStartCheckpointFile), formatOffsetCheckpoint(perDir[d].logStarts)),
		)
		if err != nil {
			errs = append(errs, fmt.Errorf("log dir %s: %w", d.path, err))
			if failed != nil {
				failed[d] = true
			}
		}
	}
	return errors.Join(errs...)
}

// checkpointAfterTruncation is a managed Log's afterTruncate: a truncation lowered its
// recovery point, and the checkpoint on disk must stop vouching for the dropped bytes
// before anything is written in their place. It runs with the log's mutex held, which
// writeCheckpoints never takes.
func (m *Manager) checkpointAfterTruncation() error {
	return m.writeCheckpoints(nil)
}

// checkpointAfterLogStartAdvance is a managed Log's afterLogStartAdvance: DeleteRecords
// moved its start, and a restart must not bring the deleted records back. Kafka writes this
// checkpoint only every minute; writing it at once costs one file write per DeleteRecords.
func (m *Manager) checkpointAfterLogStartAdvance() error {
	return m.writeCheckpoints(nil)
}

// Close flushes and closes every log, writes the checkpoints, marks each log dir whose
// logs all closed cleanly with .kafka_cleanshutdown, and releases the dir locks. Stop Run
// first.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	inFlight := make([]*openCall, 0, len(m.opening))
	for _, call := range m.opening {
		inFlight = append(inFlight, call)
	}
	m.mu.Unlock()
	for _, call := range inFlight {
		// An open in flight sees closed and closes what it opened.
		<-call.done
	}

	var errs []error
	failed := make(map[*logDir]bool)
	for tp, ml := range m.openLogs() {
		if err := errors.Join(ml.log.Flush(), ml.log.Close()); err != nil {
			errs = append(errs, fmt.Errorf("partition %s: %w", tp, err))
			failed[ml.dir] = true
		}
	}
	if err := m.writeCheckpoints(failed); err != nil {
		errs = append(errs, err)
	}

	m.mu.Lock()
	for tp, d := range m.onDisk {
		// Never opened, so never recovered in this run: whether it is sound is unknown.
		if !d.cleanShutdown {
			failed[d] = true
			m.logger.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}).Debug("not marking dir clean: partition never recovered")
		}
	}
	m.mu.Unlock()
	for _, d := range m.dirs {
		if failed[d] {
			continue
		}
		if err := writeFileAtomic(filepath.Join(d.path, cleanShutdownFile), nil); err != nil {
			errs = append(errs, fmt.Errorf("log dir %s: %w", d.path, err))
		}
	}
	errs = append(errs, m.reaper.closeAll(), m.releaseLocks())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close log manager: %w", err)
	}
	return nil
}

// FileCacheStats describes the descriptor cache through which the logs open their
// segment files.
func (m *Manager) FileCacheStats() FileCacheStats { return m.files.stats() }
