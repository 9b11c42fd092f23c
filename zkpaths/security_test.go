package zkpaths

import (
	"slices"
	"strings"
	"testing"
)

func TestSensitivePath(t *testing.T) {
	tests := map[string]bool{
		"/config/users":                true,
		"/config/users/alice":          true,
		"/config/users/alice/clients":  true,
		"/config/brokers":              true,
		"/config/brokers/<default>":    true,
		"/delegation_token/tokens/t1":  true,
		"/config":                      false,
		"/config/usersx":               false, // a sibling with the same prefix is not below it
		"/config/topics/orders":        false,
		"/config/changes":              false,
		"/brokers/topics/orders":       false,
		"/delegation_token":            false,
		"/controller":                  false,
		"/":                            false,
		"/consumers":                   false,
		"/brokers/topics/config/users": false,
	}
	for p, want := range tests {
		if got := SensitivePath(p); got != want {
			t.Errorf("SensitivePath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestOpenPath(t *testing.T) {
	if !OpenPath(ConsumersPath) {
		t.Error("the old consumer registry must stay open")
	}
	for _, p := range []string{"/consumers/group", "/brokers", "/"} {
		if OpenPath(p) {
			t.Errorf("OpenPath(%q) = true", p)
		}
	}
}

// TestSecureRootPathsCoverPersistentPaths: every znode a broker creates at
// start lies under a secure root, except the old consumer registry, so that
// zk-secure leaves nothing of the cluster's own unprotected.
func TestSecureRootPathsCoverPersistentPaths(t *testing.T) {
	roots := SecureRootPaths()
	for _, p := range append(PersistentPaths(), ControllerPath, ControllerEpochPath, ClusterIDPath, ControlledShutdownPath, ReassignPartitionsPath, PreferredReplicaElectionPath) {
		if p == ConsumersPath {
			if slices.Contains(roots, p) {
				t.Errorf("%s must not be a secure root", p)
			}
			continue
		}
		covered := slices.ContainsFunc(roots, func(r string) bool { return p == r || strings.HasPrefix(p, r+"/") })
		if !covered {
			t.Errorf("%s lies under no secure root", p)
		}
	}
}
