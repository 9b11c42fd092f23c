package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	xscram "github.com/xdg-go/scram"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/internal/verify"
)

// TestSecurity runs a secured cluster (scripts/cluster with KZOO_SECURE=1:
// SASL_SSL with SCRAM, mTLS on a second listener, the ACL authorizer,
// ZooKeeper secured) and checks what clients see: every client library
// produces and consumes over both, authentication failures close the
// connection, ACLs decide what a principal may do and take effect within
// seconds, and malformed or out-of-order input is refused.
func TestSecurity(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 21400, Secure: true})
	waitForSecureBrokers(t, c, 3)

	t.Run("clients", func(t *testing.T) { testSecureClients(t, c) })
	t.Run("wrong-password", func(t *testing.T) { testWrongPassword(t, c) })
	t.Run("acls", func(t *testing.T) { testACLs(t, c) })
	t.Run("group-acls", func(t *testing.T) { testGroupACLs(t, c) })
	t.Run("bad-input", func(t *testing.T) { testSecureBadInput(t, c) })
	t.Run("bad-acls", func(t *testing.T) { testBadACLs(t, c) })
}

// waitForSecureBrokers waits until admin sees n brokers and a controller.
func waitForSecureBrokers(t *testing.T, c *cluster.Cluster, n int) {
	t.Helper()
	cl := adminAuth(c).client(t)
	poll.UntilSaw(t, 60*time.Second, "all brokers in Metadata over SASL_SSL", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil {
			return false, err.Error()
		}
		return len(resp.Brokers) == n && resp.ControllerID >= 0, fmt.Sprintf("%d brokers, controller %d", len(resp.Brokers), resp.ControllerID)
	})
}

// testSecureClients has franz-go, kafka-go, sarama and kcat each produce
// and consume a workload with SCRAM-SHA-512 over TLS as admin, and with a
// client certificate alone on the mTLS listener as User:client, which may
// use its topics through prefixed ACLs granted with `kzoo acls add`.
func testSecureClients(t *testing.T, c *cluster.Cluster) {
	const partitions = 3
	clients := []struct {
		name string
		run  func(*testing.T, secureAuth, string, int)
	}{
		{"franz-go", produceConsumeFranzSecure},
		{"kafka-go", produceConsumeKafkaGoSecure},
		{"sarama", produceConsumeSaramaSecure},
		{"kcat", produceConsumeKcatSecure},
	}
	for _, cl := range clients {
		createSecureTopic(t, c, "scram-"+cl.name, partitions, 3, nil)
		createSecureTopic(t, c, "mtls-"+cl.name, partitions, 3, nil)
	}
	// User:client (its certificate's CN, through the cluster's
	// ssl.principal.mapping.rules) may write and read topics mtls-*;
	// idempotent producers (franz-go's default) also need
	// IdempotentWrite on the cluster.
	kzooSecure(t, c, "acls", "add", "--allow-principal", "User:"+cluster.ClientCertUser,
		"--operation", "Write", "--operation", "Read", "--operation", "Describe",
		"--topic", "mtls-", "--resource-pattern-type", "prefixed")
	kzooSecure(t, c, "acls", "add", "--allow-principal", "User:"+cluster.ClientCertUser,
		"--operation", "IdempotentWrite", "--cluster")
	mtls := mtlsAs(c, cluster.ClientCertUser)
	for _, id := range c.BrokerIDs() {
		cl := mtls.brokerClient(t, id)
		poll.UntilSaw(t, 30*time.Second, fmt.Sprintf("broker %d to show User:client its mtls- topics", id), func() (bool, string) {
			md := metadataFrom(cl)
			if md == nil {
				return false, "no Metadata answer"
			}
			var visible []string
			for _, tp := range md.Topics {
				if tp.ErrorCode == 0 {
					visible = append(visible, *tp.Topic)
				}
			}
			for _, cl := range clients {
				if !slices.Contains(visible, "mtls-"+cl.name) {
					return false, fmt.Sprintf("visible: %v", visible)
				}
			}
			// Only those: the scram- topics have no ACL for User:client.
			return len(visible) == len(clients), fmt.Sprintf("visible: %v", visible)
		})
	}
	for _, cl := range clients {
		t.Run(cl.name+"/scram-sha-512", func(t *testing.T) { cl.run(t, adminAuth(c), "scram-"+cl.name, partitions) })
		t.Run(cl.name+"/mtls", func(t *testing.T) { cl.run(t, mtls, "mtls-"+cl.name, partitions) })
	}
}

// testWrongPassword authenticates with a wrong password, through franz-go
// and by hand: SASL_AUTHENTICATION_FAILED, then the connection is closed.
// An unknown user fails the same way (no user enumeration).
func testWrongPassword(t *testing.T, c *cluster.Cluster) {
	cl := scramAs(c, cluster.AdminUser, "not-"+c.SecurePassword(cluster.AdminUser)).client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("franz-go with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}

	for _, who := range []struct{ user, password string }{
		{cluster.AdminUser, "wrong-password"},
		{"no-such-user", "whatever"},
	} {
		r := dialRaw(t, c.BrokerAddr(1), c.SecureTLSConfig())
		conv := saslHandshake(t, r, "SCRAM-SHA-512", who.user, who.password)
		first, err := conv.Step("")
		if err != nil {
			t.Fatal(err)
		}
		resp := saslAuthenticate(t, r, []byte(first))
		if resp.ErrorCode != 0 {
			t.Fatalf("%s: client-first message refused: %v", who.user, kerr.ErrorForCode(resp.ErrorCode))
		}
		final, err := conv.Step(string(resp.SASLAuthBytes))
		if err != nil {
			t.Fatalf("%s: server-first message %q: %v", who.user, resp.SASLAuthBytes, err)
		}
		resp = saslAuthenticate(t, r, []byte(final))
		if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Errorf("%s with a wrong password: error %v, want SASL_AUTHENTICATION_FAILED", who.user, kerr.ErrorForCode(resp.ErrorCode))
		}
		if msg := strings.ToLower(deref(resp.ErrorMessage)); strings.Contains(msg, strings.ToLower(who.password)) {
			t.Errorf("the error message %q holds the password", deref(resp.ErrorMessage))
		}
		r.expectClosed(t, who.user+": after a failed authentication")
	}
}

// saslHandshake sends SaslHandshake v1 for mechanism on r, wants it
// accepted, and returns a SCRAM conversation for user.
func saslHandshake(t *testing.T, r *rawConn, mechanism, user, password string) *xscram.ClientConversation {
	t.Helper()
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.SetVersion(1)
	req.Mechanism = mechanism
	resp := r.roundTrip(t, req).(*kmsg.SASLHandshakeResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("SaslHandshake %s: %v (enabled: %v)", mechanism, kerr.ErrorForCode(resp.ErrorCode), resp.SupportedMechanisms)
	}
	return scramConversation(t, user, password)
}

func saslAuthenticate(t *testing.T, r *rawConn, token []byte) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.SetVersion(1)
	req.SASLAuthBytes = token
	return r.roundTrip(t, req).(*kmsg.SASLAuthenticateResponse)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// newSCRAMUser makes a SCRAM-SHA-512 user with `kzoo users scram set` and
// waits until every broker accepts it.
func newSCRAMUser(t *testing.T, c *cluster.Cluster, user string) secureAuth {
	t.Helper()
	password := "pw-" + user + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	kzooSecure(t, c, "users", "scram", "set", user, "--mechanism", "SCRAM-SHA-512", "--password", password)
	a := scramAs(c, user, password)
	for _, id := range c.BrokerIDs() {
		addr := c.BrokerAddr(id)
		poll.UntilSaw(t, 30*time.Second, fmt.Sprintf("broker %d to accept user %s", id, user), func() (bool, string) {
			cl, err := kgo.NewClient(append(a.kgoOpts(), kgo.SeedBrokers(addr))...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = cl.SeedBrokers()[0].Request(ctx, kmsg.NewPtrMetadataRequest())
			if err != nil {
				return false, err.Error()
			}
			return true, ""
		})
	}
	return a
}

// testACLs: a user without ACLs cannot produce (TOPIC_AUTHORIZATION_FAILED)
// and does not see the topic in Metadata; `kzoo acls add` granting Write
// lets it produce, and see the topic (Write implies Describe), within
// seconds; `kzoo acls remove` takes it away again.
func testACLs(t *testing.T, c *cluster.Cluster) {
	const topic = "acl-topic"
	createSecureTopic(t, c, topic, 1, 3, nil)
	alice := newSCRAMUser(t, c, "alice")

	produce := func() error {
		cl, err := kgo.NewClient(append(alice.kgoOpts(), kgo.DefaultProduceTopic(topic),
			// Idempotence needs IdempotentWrite or (Kafka 3) Write on some
			// topic; this is about the topic's ACL alone.
			kgo.DisableIdempotentWrite(), kgo.RecordRetries(2))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("from alice")}).FirstErr()
	}
	if err := produce(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces without an ACL: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// By hand too, so that the error is the broker's answer to Produce.
	aliceCl := alice.client(t)
	leader := secureLeaderOf(t, c, topic, 0)
	if got := produceTo(t, alice.brokerClient(t, int(leader)), topic, 0, batch(-1, -1, -1, 1, time.Now().UnixMilli())); got.ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("Produce without an ACL: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(got.ErrorCode))
	}
	if names := visibleTopics(t, aliceCl); slices.Contains(names, topic) {
		t.Errorf("Metadata of all topics shows alice %s, which she may not describe: %v", topic, names)
	}
	if md := metadataFrom(aliceCl, topic); md == nil || len(md.Topics) != 1 || md.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("Metadata of %s for alice: %+v, want TOPIC_AUTHORIZATION_FAILED", topic, md)
	}

	start := time.Now()
	kzooSecure(t, c, "acls", "add", "--allow-principal", "User:alice", "--operation", "Write", "--topic", topic)
	poll.UntilSaw(t, 15*time.Second, "alice to produce once she may write", func() (bool, string) {
		err := produce()
		return err == nil, fmt.Sprint(err)
	})
	t.Logf("the ACL took effect after %v", time.Since(start).Round(10*time.Millisecond))
	poll.UntilSaw(t, 15*time.Second, "the topic to show in alice's Metadata", func() (bool, string) {
		names := visibleTopics(t, aliceCl)
		return slices.Contains(names, topic), fmt.Sprint(names)
	})
	out := kzooSecure(t, c, "acls", "list", "--topic", topic)
	if !strings.Contains(out, "User:alice") || !strings.Contains(strings.ToUpper(out), "WRITE") {
		t.Errorf("kzoo acls list --topic %s does not show alice's ACL:\n%s", topic, out)
	}

	kzooSecure(t, c, "acls", "remove", "--force", "--allow-principal", "User:alice", "--operation", "Write", "--topic", topic)
	poll.UntilSaw(t, 15*time.Second, "alice to be refused again once the ACL is removed", func() (bool, string) {
		err := produce()
		return errors.Is(err, kerr.TopicAuthorizationFailed), fmt.Sprint(err)
	})
}

// visibleTopics lists the topics Metadata (all topics) shows cl's user.
func visibleTopics(t *testing.T, cl *kgo.Client) []string {
	t.Helper()
	md := metadataFrom(cl)
	if md == nil {
		t.Fatal("no Metadata answer")
	}
	var names []string
	for _, tp := range md.Topics {
		names = append(names, deref(tp.Topic))
	}
	return names
}

// secureLeaderOf asks admin for the leader of a partition.
func secureLeaderOf(t *testing.T, c *cluster.Cluster, topic string, partition int32) int32 {
	t.Helper()
	md := metadataFrom(adminAuth(c).client(t), topic)
	if md == nil || len(md.Topics) != 1 || int(partition) >= len(md.Topics[0].Partitions) {
		t.Fatalf("Metadata of %s: %+v", topic, md)
	}
	return md.Topics[0].Partitions[partition].Leader
}

// testGroupACLs: a consumer allowed to read a topic but not the group is
// refused with GROUP_AUTHORIZATION_FAILED: FindCoordinator without
// Describe on the group, JoinGroup with Describe but without Read; with
// Read on the group it joins.
func testGroupACLs(t *testing.T, c *cluster.Cluster) {
	const topic, group = "acl-group-topic", "acl-group"
	createSecureTopic(t, c, topic, 1, 3, nil)
	bob := newSCRAMUser(t, c, "bob")
	kzooSecure(t, c, "acls", "add", "--allow-principal", "User:bob", "--operation", "Read", "--topic", topic)

	findCoordinator := func() (int16, int32) {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = group
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, bob.client(t))
		if err != nil {
			t.Fatalf("FindCoordinator: %v", err)
		}
		return resp.ErrorCode, resp.NodeID
	}
	joinGroup := func(coordinator int32) int16 {
		req := kmsg.NewPtrJoinGroupRequest()
		req.SetVersion(5)
		req.Group = group
		req.SessionTimeoutMillis = 10000
		req.RebalanceTimeoutMillis = 10000
		req.ProtocolType = "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{topic}
		p.Metadata = meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		raw, err := bob.brokerClient(t, int(coordinator)).SeedBrokers()[0].Request(ctx, req)
		if err != nil {
			t.Fatalf("JoinGroup: %v", err)
		}
		return raw.(*kmsg.JoinGroupResponse).ErrorCode
	}

	poll.UntilSaw(t, 15*time.Second, "bob's Read on the topic to reach the brokers", func() (bool, string) {
		names := visibleTopics(t, bob.client(t))
		return slices.Contains(names, topic), fmt.Sprint(names)
	})
	if code, _ := findCoordinator(); code != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("FindCoordinator without an ACL on the group: %v, want GROUP_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	// A franz-go group member fails the same way.
	member := bob.client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var groupErr error
	for groupErr == nil && ctx.Err() == nil {
		member.PollFetches(ctx).EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				groupErr = err
			}
		})
	}
	if !errors.Is(groupErr, kerr.GroupAuthorizationFailed) {
		t.Errorf("franz-go group member without an ACL on the group: %v, want GROUP_AUTHORIZATION_FAILED", groupErr)
	}
	member.Close()

	kzooSecure(t, c, "acls", "add", "--allow-principal", "User:bob", "--operation", "Describe", "--group", group)
	var coordinator int32
	poll.UntilSaw(t, 15*time.Second, "FindCoordinator once bob may describe the group", func() (bool, string) {
		code, node := findCoordinator()
		coordinator = node
		return code == 0, fmt.Sprint(kerr.ErrorForCode(code))
	})
	if code := joinGroup(coordinator); code != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("JoinGroup with Describe but not Read on the group: %v, want GROUP_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	kzooSecure(t, c, "acls", "add", "--allow-principal", "User:bob", "--operation", "Read", "--group", group)
	poll.UntilSaw(t, 15*time.Second, "JoinGroup once bob may read the group", func() (bool, string) {
		code := joinGroup(coordinator)
		// v4+ asks a new member to rejoin with its member id first.
		return code == 0 || code == kerr.MemberIDRequired.Code, fmt.Sprint(kerr.ErrorForCode(code))
	})
}

// testSecureBadInput sends what a well-behaved client never would: the
// broker must refuse it and keep serving.
func testSecureBadInput(t *testing.T, c *cluster.Cluster) {
	garbage := append([]byte("GET / HTTP/1.1\r\nHost: kzoo\r\n\r\n"), make([]byte, 256)...)
	if _, err := rand.Read(garbage[len(garbage)-256:]); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{c.BrokerAddr(1), c.SSLAddr(1)} {
		// Not TLS at all, on a TLS listener.
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(garbage); err != nil {
			t.Fatalf("send garbage to %s: %v", addr, err)
		}
		expectConnClosed(t, conn, "garbage instead of a TLS handshake on "+addr, true)
		conn.Close()
		// A plaintext Kafka request, as a client configured without TLS
		// sends.
		conn, err = net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		msg := kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		expectConnClosed(t, conn, "a plaintext request on the TLS listener "+addr, true)
		conn.Close()
	}

	// mTLS without a client certificate: the handshake fails.
	if conn, err := tlsDial(c.SSLAddr(1), c.SecureTLSConfig()); err == nil {
		// TLS 1.3 reports the server's refusal on the first read.
		r := &rawConn{conn: conn}
		if err := r.send(kmsg.NewPtrApiVersionsRequest()); err == nil {
			if _, err := r.receive(kmsg.NewPtrApiVersionsRequest()); err == nil {
				t.Error("the mTLS listener answered a client without a certificate")
			}
		}
		conn.Close()
	}

	addr := c.BrokerAddr(1)
	tlsCfg := c.SecureTLSConfig()

	// ApiVersions is allowed before authentication (clients learn the SASL
	// versions from it); anything else closes the connection unanswered.
	r := dialRaw(t, addr, tlsCfg)
	if v := r.roundTrip(t, kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); v.ErrorCode != 0 {
		t.Errorf("ApiVersions before authentication: %v", kerr.ErrorForCode(v.ErrorCode))
	}
	if err := r.send(kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatal(err)
	}
	r.expectClosed(t, "Metadata before authentication")

	// SaslAuthenticate before SaslHandshake.
	r = dialRaw(t, addr, tlsCfg)
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SetVersion(1)
	auth.SASLAuthBytes = []byte("n,,n=admin,r=abcdefgh")
	if err := r.send(auth); err != nil {
		t.Fatal(err)
	}
	r.expectClosed(t, "SaslAuthenticate before SaslHandshake")

	// A second SaslHandshake in place of the first token.
	r = dialRaw(t, addr, tlsCfg)
	saslHandshake(t, r, "SCRAM-SHA-512", "admin", "x")
	again := kmsg.NewPtrSASLHandshakeRequest()
	again.SetVersion(1)
	again.Mechanism = "SCRAM-SHA-512"
	if err := r.send(again); err != nil {
		t.Fatal(err)
	}
	r.expectClosed(t, "a second SaslHandshake")

	// A token larger than sasl.server.max.receive.size (512 KiB).
	r = dialRaw(t, addr, tlsCfg)
	saslHandshake(t, r, "SCRAM-SHA-512", "admin", "x")
	auth = kmsg.NewPtrSASLAuthenticateRequest()
	auth.SetVersion(1)
	auth.SASLAuthBytes = bytes.Repeat([]byte("n"), 600<<10)
	// The broker may close the connection before all of it is written.
	_ = r.send(auth)
	r.expectClosed(t, "a 600 KiB SASL token")

	// A garbled SCRAM client-first message: authentication fails.
	r = dialRaw(t, addr, tlsCfg)
	saslHandshake(t, r, "SCRAM-SHA-512", "admin", "x")
	if resp := saslAuthenticate(t, r, []byte("this is not SCRAM")); resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Errorf("a garbled SCRAM message: %v, want SASL_AUTHENTICATION_FAILED", kerr.ErrorForCode(resp.ErrorCode))
	}
	r.expectClosed(t, "after a garbled SCRAM message")

	// Mechanisms the listener does not have.
	for _, mech := range []string{"GSSAPI", "PLAIN", "NO-SUCH-MECHANISM", ""} {
		r = dialRaw(t, addr, tlsCfg)
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.SetVersion(1)
		req.Mechanism = mech
		resp := r.roundTrip(t, req).(*kmsg.SASLHandshakeResponse)
		if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code {
			t.Errorf("SaslHandshake %q: %v, want UNSUPPORTED_SASL_MECHANISM", mech, kerr.ErrorForCode(resp.ErrorCode))
		}
		if want := []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}; !sameSet(resp.SupportedMechanisms, want) {
			t.Errorf("SaslHandshake %q lists mechanisms %v, want %v", mech, resp.SupportedMechanisms, want)
		}
	}

	// And the broker still serves.
	if md := metadataFrom(adminAuth(c).brokerClient(t, 1)); md == nil || len(md.Brokers) != len(c.BrokerIDs()) {
		t.Fatalf("Metadata after the bad input: %+v", md)
	}
}

func tlsDial(addr string, cfg *tls.Config) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// testBadACLs: CreateAcls with a principal without a type, a pattern type
// that only filters have, or a prefixed wildcard is refused per binding with
// INVALID_REQUEST, and a valid binding in the same request is created.
func testBadACLs(t *testing.T, c *cluster.Cluster) {
	type binding struct {
		principal string
		pattern   kmsg.ACLResourcePatternType
		name      string
		valid     bool
	}
	bindings := []binding{
		{"alice", kmsg.ACLResourcePatternTypeLiteral, "bad-acl", false},
		{"", kmsg.ACLResourcePatternTypeLiteral, "bad-acl", false},
		{"User:alice", kmsg.ACLResourcePatternTypeMatch, "bad-acl", false},
		{"User:alice", kmsg.ACLResourcePatternTypeAny, "bad-acl", false},
		{"User:alice", kmsg.ACLResourcePatternTypePrefixed, "*", false},
		{"User:alice", kmsg.ACLResourcePatternTypeLiteral, "", false},
		{"User:alice", kmsg.ACLResourcePatternTypeLiteral, "good-acl", true},
	}
	req := kmsg.NewPtrCreateACLsRequest()
	for _, b := range bindings {
		cr := kmsg.NewCreateACLsRequestCreation()
		cr.ResourceType = kmsg.ACLResourceTypeTopic
		cr.ResourceName = b.name
		cr.ResourcePatternType = b.pattern
		cr.Principal = b.principal
		cr.Host = "*"
		cr.Operation = kmsg.ACLOperationRead
		cr.PermissionType = kmsg.ACLPermissionTypeAllow
		req.Creations = append(req.Creations, cr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, adminAuth(c).client(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != len(bindings) {
		t.Fatalf("%d results for %d creations", len(resp.Results), len(bindings))
	}
	for i, b := range bindings {
		code := resp.Results[i].ErrorCode
		switch {
		case b.valid && code != 0:
			t.Errorf("%+v: %v, want it created", b, kerr.ErrorForCode(code))
		case !b.valid && code != kerr.InvalidRequest.Code:
			t.Errorf("%+v: %v, want INVALID_REQUEST", b, kerr.ErrorForCode(code))
		}
	}
	// DescribeAcls with an invalid filter (pattern type UNKNOWN).
	dreq := kmsg.NewPtrDescribeACLsRequest()
	dreq.ResourceType = kmsg.ACLResourceTypeTopic
	dreq.ResourcePatternType = kmsg.ACLResourcePatternTypeUnknown
	dreq.Operation = kmsg.ACLOperationAny
	dreq.PermissionType = kmsg.ACLPermissionTypeAny
	dresp, err := dreq.RequestWith(ctx, adminAuth(c).client(t))
	if err != nil {
		t.Fatal(err)
	}
	if dresp.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("DescribeAcls with pattern type UNKNOWN: %v, want INVALID_REQUEST", kerr.ErrorForCode(dresp.ErrorCode))
	}
}

// TestSecureLeaderKill SIGKILLs partition leaders of a secured cluster
// while the verifier produces acks=all over SASL_SSL: replication (itself
// over SASL_SSL) must keep every acknowledged record, and the in-sync
// replicas' logs must be identical.
func TestSecureLeaderKill(t *testing.T) {
	env := map[string]string{
		"KZOO_ZOOKEEPER_SESSION_TIMEOUT_MS": strconv.Itoa(int(replicationSessionTimeout / time.Millisecond)),
		"KZOO_REPLICA_LAG_TIME_MAX_MS":      strconv.Itoa(int(replicationLagTime / time.Millisecond)),
	}
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 21600, Secure: true, Env: env})
	waitForSecureBrokers(t, c, 3)
	a := adminAuth(c)

	const topic, partitions = "secure-kill", 3
	createSecureTopic(t, c, topic, partitions, 3, map[string]string{"min.insync.replicas": replicationMinISR})
	waitForSecureFullISR(t, c, topic, partitions, 30*time.Second)
	p, err := verify.StartProducer(verify.ProducerConfig{
		Bootstrap:       c.Bootstrap(),
		Topic:           topic,
		Partitions:      partitions,
		Rate:            300,
		DeliveryTimeout: time.Minute,
		Options: append(a.kgoOpts(),
			kgo.ProduceRequestTimeout(3*time.Second),
			kgo.RequestTimeoutOverhead(2*time.Second)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	progress := func(n int, what string) {
		t.Helper()
		from := p.Acknowledged()
		poll.UntilSaw(t, 30*time.Second, what, func() (bool, string) {
			acked := p.Acknowledged() - from
			return acked >= n, fmt.Sprintf("%d of %d acknowledgements; failures: %v", acked, n, p.Failures())
		})
	}
	progress(100, "the verifier's first acknowledgements over SASL_SSL")

	// A consumer group reads the topic throughout, committing as it goes:
	// its coordinator may be the broker killed.
	const group = "secure-kill-group"
	consumer := a.client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(time.Second))
	consumeCtx, stopConsuming := context.WithCancel(context.Background())
	consuming := make(chan struct{})
	go func() {
		defer close(consuming)
		for consumeCtx.Err() == nil {
			consumer.PollFetches(consumeCtx)
		}
	}()
	t.Cleanup(func() { stopConsuming(); <-consuming })

	for round := 1; round <= 3; round++ {
		waitForSecureFullISR(t, c, topic, partitions, 60*time.Second)
		// The second round kills the controller (a leader too, of its
		// share of the partitions), so that a controller is elected
		// among brokers that reach each other over SASL_SSL.
		victim, killed := secureLeaderOf(t, c, topic, 0), "leader of "+topic+"-0"
		if round == 2 {
			victim, killed = secureControllerID(t, c, a), "the controller"
		}
		t.Logf("round %d: SIGKILL broker %d, %s", round, victim, killed)
		if err := c.KillBroker(int(victim)); err != nil {
			t.Fatal(err)
		}
		survivor := a.brokerClient(t, otherBroker(c, int(victim)))
		poll.Until(t, replicationSessionTimeout+20*time.Second, "a new leader of "+topic+"-0 and a live controller", func() bool {
			md := metadataFrom(survivor, topic)
			return md != nil && len(md.Topics) == 1 && len(md.Topics[0].Partitions) == partitions &&
				md.Topics[0].Partitions[0].Leader >= 0 && md.Topics[0].Partitions[0].Leader != victim &&
				md.ControllerID >= 0 && md.ControllerID != victim
		})
		progress(100, fmt.Sprintf("production after killing broker %d", victim))
		if err := c.StartBroker(int(victim)); err != nil {
			t.Fatal(err)
		}
		waitForSecureBrokers(t, c, 3)
	}
	progress(100, "production after the last restart")

	result := p.Stop()
	waitForSecureFullISR(t, c, topic, partitions, 60*time.Second)
	dataDirs := map[int32]string{}
	for _, id := range c.BrokerIDs() {
		dataDirs[int32(id)] = filepath.Join(c.Home(), "broker-"+strconv.Itoa(id), "data")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := verify.Check(ctx, verify.CheckConfig{
		Bootstrap: c.Bootstrap(), Topic: topic, Partitions: partitions, DataDirs: dataDirs, Options: a.kgoOpts(),
	}, result)
	if err != nil {
		t.Fatalf("verifier check: %v", err)
	}
	summary := verify.Summary(rep)
	t.Logf("verifier: %s", summary)
	if !strings.HasPrefix(rep.String(), fmt.Sprintf("acknowledged=%d lost=0 duplicated=0 reordered=0 divergent=0 ", rep.Acknowledged)) {
		t.Errorf("verifier found acknowledged writes not kept:\n%s", summary)
	}
	if rep.Acknowledged == 0 {
		t.Error("verifier: nothing was acknowledged")
	}
	if want := partitions * 2; rep.ReplicasCompared != want {
		t.Errorf("verifier compared %d follower logs with their leaders', want %d", rep.ReplicasCompared, want)
	}

	// The group consumed everything and its commits survived the kills.
	hws := highWatermarksOf(t, a.client(t), topic, partitions)
	offsets := a.client(t)
	poll.UntilSaw(t, time.Minute, "the group's commits at the high watermarks", func() (bool, string) {
		committed, err := committedOffsets(t, offsets, group, topic, partitions)
		if err != nil {
			return false, err.Error()
		}
		for p := range hws {
			if committed[p] < hws[p] {
				return false, fmt.Sprintf("committed %v, high watermarks %v", committed, hws)
			}
		}
		return true, ""
	})
}

// secureControllerID asks the first broker of c (as a) who the controller is.
func secureControllerID(t *testing.T, c *cluster.Cluster, a secureAuth) int32 {
	t.Helper()
	cl := a.brokerClient(t, c.BrokerIDs()[0])
	var controller int32 = -1
	poll.Until(t, 30*time.Second, "a controller", func() bool {
		md := metadataFrom(cl)
		if md != nil {
			controller = md.ControllerID
		}
		return controller >= 0
	})
	return controller
}

// otherBroker returns a broker id of c other than id.
func otherBroker(c *cluster.Cluster, id int) int {
	for _, other := range c.BrokerIDs() {
		if other != id {
			return other
		}
	}
	return id
}

// waitForSecureFullISR waits until every broker's Metadata, asked as admin,
// lists all three replicas of every partition of topic in the ISR.
func waitForSecureFullISR(t *testing.T, c *cluster.Cluster, topic string, partitions int32, timeout time.Duration) {
	t.Helper()
	a := adminAuth(c)
	for _, id := range c.BrokerIDs() {
		cl := a.brokerClient(t, id)
		poll.Until(t, timeout, fmt.Sprintf("broker %d's Metadata to list every replica of %s in the ISR", id, topic), func() bool {
			md := metadataFrom(cl, topic)
			if md == nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != int(partitions) {
				return false
			}
			for _, p := range md.Topics[0].Partitions {
				if len(p.ISR) != 3 || p.Leader < 0 {
					return false
				}
			}
			return true
		})
	}
}
