package zksecure

import (
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"
)

func TestParseDigest(t *testing.T) {
	tests := []struct {
		in      string
		want    Digest
		wantErr bool
	}{
		{"kafka:secret", Digest{"kafka", "secret"}, false},
		{"kafka:se:cret", Digest{"kafka", "se:cret"}, false}, // ZooKeeper splits at the first colon
		{"kafka:", Digest{"kafka", ""}, false},
		{"kafka", Digest{}, true},
		{":secret", Digest{}, true},
		{"", Digest{}, true},
	}
	for _, tt := range tests {
		got, err := ParseDigest(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDigest(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseDigest(%q): the error shows the password: %v", tt.in, err)
		}
	}
	if s := (Digest{"kafka", "secret"}).String(); strings.Contains(s, "secret") || s != "digest:kafka" {
		t.Errorf("String() = %q", s)
	}
}

// digestID is ZooKeeper's digest ACL id for user:password, computed here
// independently of the client library: user:base64(sha1(user:password)).
func digestID(user, password string) string {
	sum := sha1.Sum([]byte(user + ":" + password))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

func TestACL(t *testing.T) {
	open := []zk.ACL{{Perms: zk.PermAll, Scheme: "world", ID: "anyone"}}
	owner := zk.ACL{Perms: zk.PermAll, Scheme: "digest", ID: digestID("kafka", "pw")}
	read := zk.ACL{Perms: zk.PermRead, Scheme: "world", ID: "anyone"}
	creator := zk.ACL{Perms: zk.PermAll, Scheme: "auth", ID: ""}

	digest := Settings{SetACL: true, Digest: Digest{"kafka", "pw"}}
	x509 := Settings{SetACL: true}
	off := Settings{Digest: Digest{"kafka", "pw"}}
	tests := []struct {
		name string
		s    Settings
		path string
		want []zk.ACL
	}{
		{"off", off, "/config/users/alice", open},
		{"topic", digest, "/brokers/topics/orders", []zk.ACL{owner, read}},
		{"controller", digest, "/controller", []zk.ACL{owner, read}},
		{"chroot", digest, "/", []zk.ACL{owner, read}},
		{"config", digest, "/config", []zk.ACL{owner, read}},
		{"users", digest, "/config/users", []zk.ACL{owner}},
		{"user", digest, "/config/users/alice", []zk.ACL{owner}},
		{"broker configs", digest, "/config/brokers/<default>", []zk.ACL{owner}},
		{"consumers", digest, "/consumers", open},
		{"below consumers", digest, "/consumers/g", []zk.ACL{owner, read}},
		{"tls identity", x509, "/brokers/ids/1", []zk.ACL{creator, read}},
		{"tls identity sensitive", x509, "/config/users/alice", []zk.ACL{creator}},
	}
	for _, tt := range tests {
		if got := tt.s.ACL(tt.path); !slices.Equal(got, tt.want) {
			t.Errorf("%s: ACL(%q) = %v, want %v", tt.name, tt.path, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	withCert := &TLS{hasCert: true}
	withoutCert := &TLS{}
	tests := []struct {
		name string
		s    Settings
		ok   bool
	}{
		{"nothing", Settings{}, true},
		{"digest without ACLs", Settings{Digest: Digest{"kafka", "pw"}}, true},
		{"ACLs with digest", Settings{SetACL: true, Digest: Digest{"kafka", "pw"}}, true},
		{"ACLs with a client certificate", Settings{SetACL: true, TLS: withCert}, true},
		{"ACLs without identity", Settings{SetACL: true}, false},
		{"ACLs over TLS without a certificate", Settings{SetACL: true, TLS: withoutCert}, false},
		{"password without user", Settings{Digest: Digest{Password: "pw"}}, false},
		{"user with a colon", Settings{Digest: Digest{"a:b", "pw"}}, false},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: the error shows the password: %v", tt.name, err)
		}
	}
}
