package storage

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// fileReaper holds the open files of deleted segments until file.delete.delay.ms has
// passed, because a fetch may still be sending from them. Its owner calls closeDue
// periodically; there is no goroutine per file.
type fileReaper struct {
	mu      sync.Mutex
	pending []pendingClose
}

type pendingClose struct {
	file *os.File
	due  time.Time
}

// add schedules f to be closed at due.
func (r *fileReaper) add(f *os.File, due time.Time) {
	r.mu.Lock()
	r.pending = append(r.pending, pendingClose{file: f, due: due})
	r.mu.Unlock()
}

// closeDue closes the files whose time has come.
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

// closeAll closes every pending file, due or not.
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
		if err := p.file.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close deleted %s: %w", p.file.Name(), err))
		}
	}
	return errors.Join(errs...)
}
