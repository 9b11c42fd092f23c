package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// build holds the broker and CLI binaries of this test process. They are
// built once: building takes seconds, and every cluster of the process runs
// the same code. Each process builds into its own directory because test
// packages run in parallel, each in its own process.
var build struct {
	once sync.Once
	dir  string
	err  error
}

const (
	binDirPrefix = "kzoo-e2e-bin-"
	// A test process cannot remove its build directory when it exits, so each
	// build removes those of earlier processes that are older than any test
	// run can last (make test allows 25 minutes).
	staleBinDirAge = 6 * time.Hour
)

// buildBinaries returns a directory holding kzoo-broker and kzoo built from
// the module at repo.
func buildBinaries(repo string) (string, error) {
	build.once.Do(func() {
		build.dir, build.err = goBuild(repo)
	})
	return build.dir, build.err
}

func goBuild(repo string) (string, error) {
	removeStaleBinDirs(os.TempDir(), time.Now().Add(-staleBinDirAge))
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build kzoo binaries: %w", err)
	}
	dir, err := os.MkdirTemp("", binDirPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("build kzoo binaries: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	// The trailing separator makes go build write one binary per package
	// into the directory.
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", dir+string(filepath.Separator), "./cmd/kzoo-broker", "./cmd/kzoo")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			err = fmt.Errorf("%w (and removing %s: %v)", err, dir, rmErr)
		}
		return "", fmt.Errorf("build kzoo binaries: %w\n%s", err, out)
	}
	return dir, nil
}

// removeStaleBinDirs removes build directories in tmp last modified before
// cutoff. It is housekeeping only: a directory it cannot remove (another
// user's, say) is left alone.
func removeStaleBinDirs(tmp string, cutoff time.Time) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, entry := range entries {
		if !entry.IsDir() || !strings.HasPrefix(entry.Name(), binDirPrefix) {
			continue
		}
		info, err := entry.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(tmp, entry.Name()))
	}
}
