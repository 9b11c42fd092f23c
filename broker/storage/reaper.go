package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// fileReaper disposes of the log files of deleted segments once file.delete.delay.ms has
// passed, because a fetch may still be sending from them: until then a deleted segment's
// file lies under a .deleted name (see Log.moveAside), where its handle can reopen it, or
// its handle is pinned open when the whole log directory went. Its owner calls closeDue
// periodically; there is no goroutine per file.
type fileReaper struct {
	mu      sync.Mutex
	pending []pendingClose
}

type pendingClose struct {
	file   *FileHandle
	pinned bool   // the reaper holds the file acquired: release it first
	remove string // the file to remove, "" when there is none
	due    time.Time
}

// add schedules p.
func (r *fileReaper) add(p pendingClose) {
	r.mu.Lock()
	r.pending = append(r.pending, p)
	r.mu.Unlock()
}

// closeDue disposes of the files whose time has come.
func (r *fileReaper) closeDue(now time.Time) error {
	r.mu.Lock()
	var due []pendingClose
	kept := r.pending[:0]
	for _, p := range r.pending {
		if now.Before(p.due) {
			kept = append(kept, p)
		} else {
			due = append(due, p)
		}
	}
	clear(r.pending[len(kept):])
	r.pending = kept
	r.mu.Unlock()
	return closeAllFiles(due)
}

// closeAll disposes of every pending file, due or not.
func (r *fileReaper) closeAll() error {
	r.mu.Lock()
	all := r.pending
	r.pending = nil
	r.mu.Unlock()
	return closeAllFiles(all)
}

func closeAllFiles(files []pendingClose) error {
	var errs []error
	for _, p := range files {
		if p.pinned {
			p.file.release()
		}
		if err := p.file.close(); err != nil {
			errs = append(errs, fmt.Errorf("close deleted segment: %w", err))
		}
		if p.remove != "" {
			if err := os.Remove(p.remove); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove deleted segment: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}
