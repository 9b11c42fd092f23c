package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/internal/zksecure"
)

// fakeTree is an in-memory znode tree for setClusterACLs.
type fakeTree struct {
	acls     map[string][]zk.ACL // every znode, by path
	vanished map[string]bool     // listed by its parent, gone when set
}

func newFakeTree(paths ...string) *fakeTree {
	t := &fakeTree{acls: map[string][]zk.ACL{"/": nil}, vanished: map[string]bool{}}
	for _, p := range paths {
		t.acls[p] = nil
	}
	return t
}

func (t *fakeTree) SetACL(p string, acl []zk.ACL) error {
	if t.vanished[p] {
		return fmt.Errorf("set ACL of %s: %w", p, zk.ErrNoNode)
	}
	if _, ok := t.acls[p]; !ok {
		return fmt.Errorf("set ACL of %s: %w", p, zk.ErrNoNode)
	}
	t.acls[p] = acl
	return nil
}

func (t *fakeTree) Children(p string) ([]string, error) {
	if _, ok := t.acls[p]; !ok {
		return nil, fmt.Errorf("list %s: %w", p, zk.ErrNoNode)
	}
	var names []string
	for q := range t.acls {
		if q != "/" && filepath.Dir(q) == p {
			names = append(names, filepath.Base(q))
		}
	}
	for q := range t.vanished {
		if filepath.Dir(q) == p {
			names = append(names, filepath.Base(q))
		}
	}
	slices.Sort(names)
	return names, nil
}

func TestSetClusterACLs(t *testing.T) {
	tree := newFakeTree(
		"/brokers", "/brokers/topics", "/brokers/topics/t", "/brokers/topics/t/partitions",
		"/brokers/topics/t/partitions/0", "/brokers/topics/t/partitions/0/state",
		"/config", "/config/users", "/config/users/alice", "/config/topics", "/config/topics/t",
		"/controller", "/consumers", "/consumers/old", "/zookeeper", "/zookeeper/quota", "/other-app",
	)
	tree.vanished["/brokers/topics/gone"] = true
	security := zksecure.Settings{SetACL: true, Digest: zksecure.Digest{User: "kafka", Password: "pw"}}

	n, err := setClusterACLs(tree, security)
	if err != nil {
		t.Fatal(err)
	}
	owner := zk.DigestACL(zk.PermAll, "kafka", "pw")
	readable := append(slices.Clone(owner), zk.WorldACL(zk.PermRead)...)
	want := map[string][]zk.ACL{
		"/": readable, "/brokers": readable, "/brokers/topics": readable, "/brokers/topics/t": readable,
		"/brokers/topics/t/partitions": readable, "/brokers/topics/t/partitions/0": readable,
		"/brokers/topics/t/partitions/0/state": readable, "/config": readable, "/config/users": owner,
		"/config/users/alice": owner, "/config/topics": readable, "/config/topics/t": readable,
		"/controller": readable,
		// Not Kafka's: left as they were.
		"/consumers": nil, "/consumers/old": nil, "/zookeeper": nil, "/zookeeper/quota": nil, "/other-app": nil,
	}
	changed := 0
	for p, acl := range want {
		if !slices.Equal(tree.acls[p], acl) {
			t.Errorf("%s: ACL %v, want %v", p, tree.acls[p], acl)
		}
		if acl != nil {
			changed++
		}
	}
	if n != changed {
		t.Errorf("reported %d znodes changed, want %d", n, changed)
	}

	// And back: every znode it touched is open again.
	if _, err := setClusterACLs(tree, zksecure.Settings{Digest: security.Digest}); err != nil {
		t.Fatal(err)
	}
	for p, acl := range want {
		if acl != nil && !slices.Equal(tree.acls[p], zk.WorldACL(zk.PermAll)) {
			t.Errorf("after disabling, %s: ACL %v", p, tree.acls[p])
		}
	}
}

func TestSetClusterACLsStopsOnError(t *testing.T) {
	tree := &failingTree{fakeTree: newFakeTree("/brokers", "/brokers/ids", "/config")}
	_, err := setClusterACLs(tree, zksecure.Settings{SetACL: true, Digest: zksecure.Digest{User: "kafka"}})
	if err == nil || !strings.Contains(err.Error(), "/brokers/ids") {
		t.Fatalf("error %v, want the failure on /brokers/ids", err)
	}
	if tree.acls["/config"] != nil {
		t.Error("went on after a failure")
	}
}

type failingTree struct{ *fakeTree }

func (t *failingTree) SetACL(p string, acl []zk.ACL) error {
	if p == "/brokers/ids" {
		return fmt.Errorf("set ACL of %s: %w", p, zk.ErrNoAuth)
	}
	return t.fakeTree.SetACL(p, acl)
}

func TestZKSecureArguments(t *testing.T) {
	t.Setenv(zkDigestEnv, "")
	t.Setenv(zkTLSConfigFileEnv, "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--enable"}, "no ZooKeeper identity"},
		{[]string{"--enable", "--disable", "--zk-digest", "a:b"}, "want one of --enable and --disable"},
		{[]string{"--zk-digest", "a:b"}, "want one of --enable and --disable"},
		{[]string{"--zookeeper.acl", "maybe", "--zk-digest", "a:b"}, "want secure or unsecure"},
		{[]string{"--enable", "--zk-digest", "nocolon"}, "want user:password"},
		{[]string{"--enable", "--zk-digest", "a:b", "--zookeeper", "127.0.0.1"}, "want host:port"},
		{[]string{"--enable", "--zk-digest", "a:b", "extra"}, "unexpected argument"},
		{[]string{"--enable", "--zk-tls-config-file", "/nonexistent/zk.properties"}, "--zk-tls-config-file"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := zkSecureCommand(context.Background(), tt.args, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("zk-secure %v: error %v, want one containing %q", tt.args, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), ":b") {
			t.Errorf("zk-secure %v: the error shows the password: %v", tt.args, err)
		}
	}
	var out bytes.Buffer
	if err := zkSecureCommand(context.Background(), []string{"--help"}, &out); err != nil || !strings.Contains(out.String(), "--enable") {
		t.Errorf("--help: %v, %q", err, out.String())
	}
}

func TestZKSecurityFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := write("ca.pem", string(testCAPEM(t)))
	withoutEnable := write("a.properties", "zookeeper.ssl.truststore.location="+ca+"\n")
	withTLS := write("b.properties", "# Kafka's ZooKeeper TLS file\nzookeeper.ssl.client.enable=true\n"+
		"zookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty\n"+
		"zookeeper.ssl.truststore.location="+ca+"\nsome.other.key=ignored\n")

	f := &zkSecurityFlags{tlsConfigFile: withoutEnable}
	if _, err := f.settings(); err == nil || !strings.Contains(err.Error(), "zookeeper.ssl.client.enable") {
		t.Errorf("a file without zookeeper.ssl.client.enable: %v", err)
	}
	f = &zkSecurityFlags{tlsConfigFile: withTLS}
	s, err := f.settings()
	if err != nil {
		t.Fatal(err)
	}
	if s.TLS == nil || s.SetACL {
		t.Errorf("TLS without a client certificate: TLS %v, SetACL %v; want TLS and no secure ACLs (no identity)", s.TLS, s.SetACL)
	}
	f = &zkSecurityFlags{digest: "kafka:pw"}
	if s, err = f.settings(); err != nil || !s.SetACL || s.Digest != (zksecure.Digest{User: "kafka", Password: "pw"}) {
		t.Errorf("digest: %+v, %v; want secure ACLs with the digest", s, err)
	}
	if s, err = (&zkSecurityFlags{}).settings(); err != nil || s.SetACL || s.TLS != nil {
		t.Errorf("no flags: %+v, %v", s, err)
	}
}

// testCAPEM returns a self-signed CA certificate in PEM.
func testCAPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
