package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEDocumentsEveryKey keeps the README's configuration reference
// complete: every broker and topic key must appear in it, spelled out.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for _, k := range BrokerKeys() {
		if !strings.Contains(readme, "`"+k.Name+"`") {
			t.Errorf("README does not document the broker key %s (default %q)", k.Name, k.Default)
		}
	}
	for _, k := range TopicKeys() {
		if !strings.Contains(readme, "`"+k.Name+"`") {
			t.Errorf("README does not document the topic key %s", k.Name)
		}
	}
}
