package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
)

// Files of a log directory, named as Kafka names them.
const (
	metaPropertiesFile          = "meta.properties"
	recoveryPointCheckpointFile = "recovery-point-offset-checkpoint"
	highWatermarkCheckpointFile = "replication-offset-checkpoint"
	cleanerCheckpointFile       = "cleaner-offset-checkpoint"   // first dirty offsets of compacted logs
	logStartCheckpointFile      = "log-start-offset-checkpoint" // log start offsets DeleteRecords moved
	cleanShutdownFile           = ".kafka_cleanshutdown"
	lockFile                    = ".lock"
)

// offsetCheckpointVersion is the only version of Kafka's offset checkpoint format.
const offsetCheckpointVersion = 0

// formatOffsetCheckpoint renders Kafka's offset checkpoint format: the version, the
// number of entries, then one "topic partition offset" line per partition.
func formatOffsetCheckpoint(offsets map[zkpaths.TopicPartition]int64) []byte {
	tps := make([]zkpaths.TopicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, zkpaths.TopicPartition.Compare)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", offsetCheckpointVersion, len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.Topic, tp.Partition, offsets[tp])
	}
	return b.Bytes()
}

// parseOffsetCheckpoint parses Kafka's offset checkpoint format.
func parseOffsetCheckpoint(data []byte) (map[zkpaths.TopicPartition]int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return strings.TrimSpace(sc.Text()), true
	}
	version, ok := next()
	if !ok {
		return nil, errors.New("empty checkpoint")
	}
	if version != strconv.Itoa(offsetCheckpointVersion) {
		return nil, fmt.Errorf("unsupported checkpoint version %q", version)
	}
	countText, ok := next()
	if !ok {
		return nil, errors.New("checkpoint has no entry count")
	}
	count, err := strconv.Atoi(countText)
	if err != nil || count < 0 {
		return nil, fmt.Errorf("bad checkpoint entry count %q", countText)
	}
	offsets := make(map[zkpaths.TopicPartition]int64, min(count, 1<<16))
	for {
		text, ok := next()
		if !ok {
			break
		}
		if text == "" {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 3 {
			return nil, fmt.Errorf("checkpoint line %d: want \"topic partition offset\", got %q", line, text)
		}
		partition, perr := strconv.ParseInt(fields[1], 10, 32)
		offset, oerr := strconv.ParseInt(fields[2], 10, 64)
		tp := zkpaths.TopicPartition{Topic: fields[0], Partition: int32(partition)}
		if perr != nil || oerr != nil || offset < 0 || validatePartition(tp) != nil {
			return nil, fmt.Errorf("checkpoint line %d: bad entry %q", line, text)
		}
		offsets[tp] = offset
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if len(offsets) != count {
		return nil, fmt.Errorf("checkpoint announces %d entries, holds %d", count, len(offsets))
	}
	return offsets, nil
}

// metaProperties is the identity a log directory was formatted with.
type metaProperties struct {
	version   string
	brokerID  string
	clusterID string // empty when absent
}

// formatMetaProperties renders meta.properties as Kafka writes it (a Java properties file).
func formatMetaProperties(brokerID int32, clusterID string, now time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#\n#%s\n", now.UTC().Format("Mon Jan 02 15:04:05 MST 2006"))
	if clusterID != "" {
		fmt.Fprintf(&b, "cluster.id=%s\n", clusterID)
	}
	fmt.Fprintf(&b, "version=0\nbroker.id=%d\n", brokerID)
	return b.Bytes()
}

// parseMetaProperties reads the keys kzoo uses from a Java properties file. It handles
// the plain "key=value" lines Kafka writes, comments and blank lines, not the whole format.
func parseMetaProperties(data []byte) (metaProperties, error) {
	props := make(map[string]string)
	for i, raw := range strings.Split(string(data), "\n") {
		text := strings.TrimSpace(raw)
		if text == "" || text[0] == '#' || text[0] == '!' {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok {
			key, value, ok = strings.Cut(text, ":")
		}
		if !ok {
			return metaProperties{}, fmt.Errorf("line %d: no '=' in %q", i+1, text)
		}
		props[strings.TrimSpace(key)] = strings.TrimSpace(value)
	}
	m := metaProperties{version: props["version"], brokerID: props["broker.id"], clusterID: props["cluster.id"]}
	if m.version == "" {
		return metaProperties{}, errors.New("no version")
	}
	return m, nil
}

// writeFileReplacing replaces path with data by a rename, without waiting for the disk:
// a crash leaves the old contents, the new, or an empty or torn file, which the reader
// must detect.
func writeFileReplacing(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", tmp, err), os.Remove(tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("replace %s: %w", path, err), os.Remove(tmp))
	}
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the old or the new
// contents: write a temporary file, fsync it, rename it over path, fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", tmp, err), os.Remove(tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("replace %s: %w", path, err), os.Remove(tmp))
	}
	return syncDir(filepath.Dir(path))
}
