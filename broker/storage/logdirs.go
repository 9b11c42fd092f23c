package storage

import (
	"github.com/kzoo/kzoo/zkpaths"
	"golang.org/x/sys/unix"
)

// LogDirInfo describes one of the broker's log dirs, as DescribeLogDirs reports it.
type LogDirInfo struct {
	Path string
	// Logs are the open partition logs in the dir.
	Logs map[zkpaths.TopicPartition]*Log
	// TotalBytes and UsableBytes are the size of the dir's file system and the space in it
	// this process may still use; -1 when the file system does not say.
	TotalBytes, UsableBytes int64
}

// LogDirs describes each log dir, in the order of ManagerConfig.Dirs.
func (m *Manager) LogDirs() []LogDirInfo {
	out := make([]LogDirInfo, len(m.dirs))
	index := make(map[*logDir]int, len(m.dirs))
	for i, d := range m.dirs {
		out[i] = LogDirInfo{Path: d.path, Logs: make(map[zkpaths.TopicPartition]*Log)}
		index[d] = i
	}
	m.mu.Lock()
	for tp, ml := range m.logs {
		out[index[ml.dir]].Logs[tp] = ml.log
	}
	m.mu.Unlock()
	for i := range out {
		out[i].TotalBytes, out[i].UsableBytes = fileSystemSpace(out[i].Path)
	}
	return out
}

// fileSystemSpace returns the size of the file system holding path and the bytes an
// unprivileged writer may still use there (what Java's FileStore calls total and usable
// space), or -1, -1 when statfs fails.
func fileSystemSpace(path string) (total, usable int64) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return -1, -1
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize
}
