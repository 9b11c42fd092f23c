package main

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestParseRecordsDeleteArgs(t *testing.T) {
	files := map[string]string{
		"ok.json":   `{"partitions": [{"topic": "a", "partition": 0, "offset": 10}, {"topic": "b", "partition": 2, "offset": -1}], "version": 1}`,
		"dup.json":  `{"partitions": [{"topic": "a", "partition": 0, "offset": 1}, {"topic": "a", "partition": 0, "offset": 2}]}`,
		"bad.json":  `{"partitions": [{"topic": "a", "partition": 0, "offset": -2}]}`,
		"none.json": `{"partitions": [], "version": 1}`,
		"typo.json": `{"partitons": [{"topic": "a", "partition": 0, "offset": 1}]}`,
		"nopa.json": `{"partitions": [{"topic": "a", "offset": 1}]}`,
		"text.json": `topic a`,
	}
	read := func(name string) ([]byte, error) {
		data, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(data), nil
	}
	for _, tc := range []struct {
		args    []string
		want    recordsDeleteArgs
		wantErr string
	}{
		{args: []string{"t", "--offset", "5"}, want: recordsDeleteArgs{Topic: "t", Partition: -1, Offset: 5}},
		{args: []string{"--partition", "2", "t", "--offset", "-1"}, want: recordsDeleteArgs{Topic: "t", Partition: 2, Offset: -1}},
		{args: []string{"--offset-json-file", "ok.json"}, want: recordsDeleteArgs{Targets: []recordsTarget{{"a", 0, 10}, {"b", 2, -1}}}},
		{args: []string{"t"}, wantErr: "give --offset"},
		{args: []string{"--offset", "3"}, wantErr: "name a topic"},
		{args: []string{"t", "u", "--offset", "3"}, wantErr: `unexpected argument "u"`},
		{args: []string{"t", "--offset", "-2"}, wantErr: "--offset -2"},
		{args: []string{"t", "--offset", "1", "--partition", "-3"}, wantErr: "--partition -3"},
		{args: []string{"t", "--offset", "x"}, wantErr: "invalid value"},
		{args: []string{"t", "--offset-json-file", "ok.json"}, wantErr: "excludes"},
		{args: []string{"--offset-json-file", "missing.json"}, wantErr: "missing.json"},
		{args: []string{"--offset-json-file", "dup.json"}, wantErr: "listed twice"},
		{args: []string{"--offset-json-file", "bad.json"}, wantErr: "no valid offset"},
		{args: []string{"--offset-json-file", "none.json"}, wantErr: "no partitions"},
		{args: []string{"--offset-json-file", "typo.json"}, wantErr: "partitons"},
		{args: []string{"--offset-json-file", "nopa.json"}, wantErr: "no valid partition"},
		{args: []string{"--offset-json-file", "text.json"}, wantErr: "not an offset JSON file"},
	} {
		got, _, err := parseRecordsDeleteArgs(tc.args, io.Discard, read)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want one mentioning %q", tc.args, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case !reflect.DeepEqual(got, tc.want):
			t.Errorf("%q: %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

func TestReportDeletedRecords(t *testing.T) {
	var out strings.Builder
	err := reportDeletedRecords(&out, []recordsResult{
		{Topic: "b", Partition: 0, LowWatermark: -1, Err: kerr.OffsetOutOfRange},
		{Topic: "a", Partition: 1, LowWatermark: 7},
		{Topic: "a", Partition: 0, LowWatermark: 3},
	})
	want := "a-0: low watermark 3\na-1: low watermark 7\nb-0: failed: " + kerr.OffsetOutOfRange.Error() + "\n"
	if out.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", out.String(), want)
	}
	if err == nil || !strings.Contains(err.Error(), "b-0") {
		t.Errorf("error %v, want one naming b-0", err)
	}
}

func TestParseLogDirsArgs(t *testing.T) {
	got, _, err := parseLogDirsArgs([]string{"--broker", "2,1", "--topic", "x, y", "--json"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (logDirsArgs{Brokers: []int32{2, 1}, Topics: []string{"x", "y"}, JSON: true}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, args := range [][]string{{"--broker", "one"}, {"--broker", "-1"}, {"extra"}} {
		if _, _, err := parseLogDirsArgs(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestLogDirsOutput(t *testing.T) {
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir, dir.TotalBytes, dir.UsableBytes = "/data/kzoo", 1000, 400
	for _, tp := range []struct {
		topic      string
		partitions []int32
	}{{"b", []int32{1, 0}}, {"a", []int32{0}}} {
		t := kmsg.NewDescribeLogDirsResponseDirTopic()
		t.Topic = tp.topic
		for _, p := range tp.partitions {
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition, dp.Size = p, int64(100+p)
			t.Partitions = append(t.Partitions, dp)
		}
		dir.Topics = append(dir.Topics, t)
	}
	described := []brokerLogDirs{{Broker: 1, Dirs: []kmsg.DescribeLogDirsResponseDir{dir}}, {Broker: 2, Err: errors.New("connection refused")}}

	var out strings.Builder
	err := writeLogDirTables(&out, described)
	if err == nil || !strings.Contains(err.Error(), "broker 2") {
		t.Errorf("error %v, want one naming broker 2", err)
	}
	text := out.String()
	var rows []string
	for line := range strings.Lines(text) {
		rows = append(rows, strings.Join(strings.Fields(line), " "))
	}
	want := []string{
		"BROKER DIR STATUS TOTAL-BYTES USABLE-BYTES PARTITIONS SIZE",
		"1 /data/kzoo ok 1000 400 3 301",
		"2 - connection refused - - - -",
		"",
		"BROKER DIR TOPIC PARTITION SIZE OFFSET-LAG FUTURE",
		"1 /data/kzoo a 0 100 0 false",
		"1 /data/kzoo b 0 100 0 false",
		"1 /data/kzoo b 1 101 0 false",
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("tables:\n%s\nwant the rows %q", text, want)
	}

	out.Reset()
	if err := writeLogDirsJSON(&out, described[:1]); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version int `json:"version"`
		Brokers []struct {
			Broker  int32 `json:"broker"`
			LogDirs []struct {
				LogDir     string  `json:"logDir"`
				Error      *string `json:"error"`
				Partitions []struct {
					Partition string `json:"partition"`
					Size      int64  `json:"size"`
				} `json:"partitions"`
			} `json:"logDirs"`
		} `json:"brokers"`
	}
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatalf("JSON output %q: %v", out.String(), err)
	}
	if doc.Version != 1 || len(doc.Brokers) != 1 || len(doc.Brokers[0].LogDirs) != 1 {
		t.Fatalf("JSON output %s", out.String())
	}
	d := doc.Brokers[0].LogDirs[0]
	if d.LogDir != "/data/kzoo" || d.Error != nil || len(d.Partitions) != 3 || d.Partitions[0].Partition != "a-0" || d.Partitions[2].Size != 101 {
		t.Errorf("JSON log dir %+v", d)
	}
}

func TestRecordsAndLogDirsHelp(t *testing.T) {
	for _, args := range [][]string{{"records", "--help"}, {"records", "delete", "--help"}, {"log-dirs", "--help"}, {"log-dirs", "describe", "--help"}} {
		var out strings.Builder
		if err := run(args, &out); err != nil || !strings.HasPrefix(out.String(), "Usage: kzoo "+args[0]) {
			t.Errorf("kzoo %s: %v, printed %q", strings.Join(args, " "), err, out.String())
		}
	}
	for _, tc := range []struct{ args []string }{{[]string{"records"}}, {[]string{"records", "purge"}}, {[]string{"log-dirs", "list"}}} {
		if err := run(tc.args, io.Discard); err == nil || !strings.Contains(err.Error(), "--help") {
			t.Errorf("kzoo %s: %v, want an error pointing at --help", strings.Join(tc.args, " "), err)
		}
	}
}
