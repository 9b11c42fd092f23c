package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func levels(l *Loggers) map[string]string {
	out := make(map[string]string)
	for _, lv := range l.Levels() {
		out[lv.Logger] = lv.Level
	}
	return out
}

func TestLevelsFollowTheRootUnlessSetOnTheirOwn(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, &logrus.TextFormatter{DisableTimestamp: true}, logrus.InfoLevel, logrus.Fields{"broker": 1})
	storage, server := l.Component("storage"), l.Component("server")

	server.Debug("hidden")
	if err := l.SetLevel("server", "debug"); err != nil {
		t.Fatal(err)
	}
	server.Debug("shown")
	storage.Debug("hidden")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "shown") || !strings.Contains(out, "component=server") {
		t.Fatalf("log %q: want the server's debug line alone", out)
	}

	if err := l.SetLevel(Root, "WARN"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{Root: "WARN", "server": "DEBUG", "storage": "WARN"}
	if got := levels(l); len(got) != len(want) || got[Root] != want[Root] || got["server"] != want["server"] || got["storage"] != want["storage"] {
		t.Fatalf("levels %v, want %v: the root's level reaches the loggers without their own", got, want)
	}
	if err := l.ResetLevel("server"); err != nil {
		t.Fatal(err)
	}
	if got := levels(l)["server"]; got != "WARN" {
		t.Fatalf("server at %s after its level was removed, want the root's WARN", got)
	}
	if l.Component("server"); len(l.Levels()) != 3 {
		t.Fatalf("asking for a component twice made a second logger: %v", l.Levels())
	}
}

func TestBadLevelChanges(t *testing.T) {
	l := New(&bytes.Buffer{}, &logrus.JSONFormatter{}, logrus.InfoLevel, nil)
	l.Component("storage")
	if err := l.SetLevel("storage", "LOUD"); !errors.Is(err, ErrInvalidLevel) || !strings.Contains(err.Error(), "TRACE, DEBUG, INFO, WARN, ERROR, FATAL") {
		t.Errorf("unknown level: %v", err)
	}
	if err := l.SetLevel("kafka.server", "INFO"); !errors.Is(err, ErrUnknownLogger) || !strings.Contains(err.Error(), "kzoo, storage") {
		t.Errorf("unknown logger: %v, want one listing the loggers", err)
	}
	if err := l.ResetLevel(Root); !errors.Is(err, ErrResetRoot) {
		t.Errorf("resetting the root: %v", err)
	}
	if err := l.ResetLevel("nope"); !errors.Is(err, ErrUnknownLogger) {
		t.Errorf("resetting an unknown logger: %v", err)
	}
	level := "TRACE"
	if err := l.Check("storage", &level); err != nil {
		t.Errorf("check of a valid change: %v", err)
	}
	if got := levels(l)["storage"]; got != "INFO" {
		t.Errorf("storage at %s after a check alone, want INFO", got)
	}
}
