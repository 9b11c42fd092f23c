package config

import (
	"strings"
	"testing"
)

func TestMaxOpenFiles(t *testing.T) {
	vals, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := vals.MaxOpenFiles(); got != 0 {
		t.Fatalf("default kzoo.max.open.files %d, want 0 (chosen from the process's limit)", got)
	}
	vals, err = Load("", []string{"KZOO_KZOO_MAX_OPEN_FILES=200"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := vals.MaxOpenFiles(); got != 200 {
		t.Fatalf("kzoo.max.open.files %d from the environment, want 200", got)
	}
	if _, err := Load("", nil, []string{"kzoo.max.open.files=-1"}); err == nil || !strings.Contains(err.Error(), "kzoo.max.open.files") {
		t.Fatalf("negative kzoo.max.open.files: error %v, want one naming the key", err)
	}
}
