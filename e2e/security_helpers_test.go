package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	kgsasl "github.com/segmentio/kafka-go/sasl"
	kgscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	kscram "github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"

	"github.com/kzoo/kzoo/e2e/cluster"
)

// secureAuth is how a test client reaches a secured cluster: SCRAM-SHA-512
// over TLS on the brokers' SASL_SSL listeners (user set), or TLS with a
// client certificate alone on their SSL listeners (certUser set).
type secureAuth struct {
	c        *cluster.Cluster
	user     string // SCRAM user
	password string
	certUser string // client certificate (mTLS)
}

// scramAs is SCRAM-SHA-512 over TLS as user.
func scramAs(c *cluster.Cluster, user, password string) secureAuth {
	return secureAuth{c: c, user: user, password: password}
}

// adminAuth is scramAs the cluster's super user admin.
func adminAuth(c *cluster.Cluster) secureAuth {
	return scramAs(c, cluster.AdminUser, c.SecurePassword(cluster.AdminUser))
}

// mtlsAs is TLS with certUser's client certificate on the SSL listeners.
func mtlsAs(c *cluster.Cluster, certUser string) secureAuth {
	return secureAuth{c: c, certUser: certUser}
}

func (a secureAuth) String() string {
	if a.certUser != "" {
		return "mTLS as " + a.certUser
	}
	return "SCRAM-SHA-512 as " + a.user
}

// bootstrap returns the addresses of the listeners this way of
// authenticating goes to.
func (a secureAuth) bootstrap() []string {
	if a.certUser != "" {
		return a.c.SSLBootstrap()
	}
	return a.c.Bootstrap()
}

func (a secureAuth) tlsConfig() *tls.Config {
	if a.certUser != "" {
		return a.c.SecureMTLSConfig(a.certUser)
	}
	return a.c.SecureTLSConfig()
}

// kgoOpts are franz-go's options for a, seed brokers included.
func (a secureAuth) kgoOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(a.bootstrap()...), kgo.DialTLSConfig(a.tlsConfig())}
	if a.certUser == "" {
		opts = append(opts, kgo.SASL(kscram.Auth{User: a.user, Pass: a.password}.AsSha512Mechanism()))
	}
	return opts
}

// client is a franz-go client for a, closed when the test ends.
func (a secureAuth) client(tb testing.TB, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append(a.kgoOpts(), opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// brokerClient is client talking to broker id only.
func (a secureAuth) brokerClient(t *testing.T, id int) *kgo.Client {
	t.Helper()
	addr := a.c.BrokerAddr(id)
	if a.certUser != "" {
		addr = a.c.SSLAddr(id)
	}
	return a.client(t, kgo.SeedBrokers(addr))
}

func (a secureAuth) kafkaGoSASL(t *testing.T) kgsasl.Mechanism {
	t.Helper()
	if a.certUser != "" {
		return nil
	}
	mech, err := kgscram.Mechanism(kgscram.SHA512, a.user, a.password)
	if err != nil {
		t.Fatal(err)
	}
	return mech
}

// saramaConfig is a sarama configuration for a.
func (a secureAuth) saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Net.TLS.Enable = true
	cfg.Net.TLS.Config = a.tlsConfig()
	if a.certUser == "" {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Handshake = true
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.User = a.user
		cfg.Net.SASL.Password = a.password
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
			return &saramaSCRAM{hash: xscram.SHA512}
		}
	}
	return cfg
}

// kcatArgs are kcat's (librdkafka's) settings for a.
func (a secureAuth) kcatArgs() []string {
	args := []string{"-b", strings.Join(a.bootstrap(), ","), "-X", "ssl.ca.location=" + a.c.SecureCAPath()}
	if a.certUser != "" {
		cert, key := a.c.SecureClientCertPaths(a.certUser)
		return append(args, "-X", "security.protocol=SSL",
			"-X", "ssl.certificate.location="+cert, "-X", "ssl.key.location="+key)
	}
	return append(args, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
		"-X", "sasl.username="+a.user, "-X", "sasl.password="+a.password)
}

// saramaSCRAM is sarama's SCRAM client, over xdg-go/scram (sarama has none
// of its own).
type saramaSCRAM struct {
	hash xscram.HashGeneratorFcn
	conv *xscram.ClientConversation
}

func (s *saramaSCRAM) Begin(user, password, authzID string) error {
	client, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = client.NewConversation()
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *saramaSCRAM) Done() bool                            { return s.conv.Done() }

// ---- producing and consuming with each client ------------------------------

// secureRecords is the size of each client's workload: the point is the
// transport, not volume.
const secureRecords = 2000

func produceConsumeFranzSecure(t *testing.T, a secureAuth, topic string, partitions int) {
	w := newWorkload(secureRecords, 100, topic)
	cl := a.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recs := make([]*kgo.Record, len(w.values))
	for i := range w.values {
		recs[i] = &kgo.Record{Key: w.keys[i], Value: w.values[i]}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce (%v): %v", a, err)
	}
	hws := highWatermarksOf(t, a.client(t), topic, partitions)
	var want int64
	for _, hw := range hws {
		want += hw
	}
	cons := a.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	var got []record
	for int64(len(got)) < want {
		fetches := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go (%v) consumed %d of %d records before the deadline", a, len(got), want)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) {
				return
			}
			t.Fatalf("franz-go (%v) fetch %s/%d: %v", a, topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			got = append(got, record{partition: r.Partition, offset: r.Offset, key: r.Key, value: r.Value})
		})
	}
	verifyExactlyOnceInOrder(t, w, partitions, sortByPartition(got, partitions))
}

func produceConsumeKafkaGoSecure(t *testing.T, a secureAuth, topic string, partitions int) {
	w := newWorkload(secureRecords, 100, topic)
	wr := &kafka.Writer{
		Addr:         kafka.TCP(a.bootstrap()...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    500,
		BatchTimeout: 5 * time.Millisecond,
		Transport:    &kafka.Transport{TLS: a.tlsConfig(), SASL: a.kafkaGoSASL(t)},
	}
	defer wr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	msgs := make([]kafka.Message, len(w.values))
	for i := range w.values {
		msgs[i] = kafka.Message{Key: w.keys[i], Value: w.values[i]}
	}
	if err := wr.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("kafka-go write (%v): %v", a, err)
	}
	hws := highWatermarksOf(t, a.client(t), topic, partitions)
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, TLS: a.tlsConfig(), SASLMechanism: a.kafkaGoSASL(t)}
	var got []record
	for p := 0; p < partitions; p++ {
		if hws[p] == 0 {
			continue
		}
		rd := kafka.NewReader(kafka.ReaderConfig{
			Brokers: a.bootstrap(), Topic: topic, Partition: p, Dialer: dialer,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond,
		})
		for {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				rd.Close()
				t.Fatalf("kafka-go (%v) read partition %d: %v", a, p, err)
			}
			got = append(got, record{partition: int32(m.Partition), offset: m.Offset, key: m.Key, value: m.Value})
			if m.Offset >= hws[p]-1 {
				break
			}
		}
		rd.Close()
	}
	verifyExactlyOnceInOrder(t, w, partitions, got)
}

func produceConsumeSaramaSecure(t *testing.T, a secureAuth, topic string, partitions int) {
	w := newWorkload(secureRecords, 100, topic)
	cfg := a.saramaConfig()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	// sarama has no murmur2 partitioner: each record names the partition
	// murmur2 gives, which verifyExactlyOnceInOrder checks.
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	// One request in flight per broker keeps retried batches in order.
	cfg.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer(a.bootstrap(), cfg)
	if err != nil {
		t.Fatalf("sarama producer (%v): %v", a, err)
	}
	msgs := make([]*sarama.ProducerMessage, len(w.values))
	for i := range w.values {
		msgs[i] = &sarama.ProducerMessage{
			Topic: topic, Key: sarama.ByteEncoder(w.keys[i]), Value: sarama.ByteEncoder(w.values[i]),
			Partition: expectedPartition(w.keys[i], partitions),
		}
	}
	if err := prod.SendMessages(msgs); err != nil {
		prod.Close()
		t.Fatalf("sarama produce (%v): %v", a, err)
	}
	if err := prod.Close(); err != nil {
		t.Fatalf("sarama producer close: %v", err)
	}
	hws := highWatermarksOf(t, a.client(t), topic, partitions)
	cons, err := sarama.NewConsumer(a.bootstrap(), a.saramaConfig())
	if err != nil {
		t.Fatalf("sarama consumer (%v): %v", a, err)
	}
	defer cons.Close()
	var got []record
	timeout := time.After(2 * time.Minute)
	for p := 0; p < partitions; p++ {
		if hws[p] == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, int32(p), sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama (%v) consume partition %d: %v", a, p, err)
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				got = append(got, record{partition: m.Partition, offset: m.Offset, key: m.Key, value: m.Value})
				done = m.Offset >= hws[p]-1
			case err := <-pc.Errors():
				pc.Close()
				t.Fatalf("sarama (%v) partition %d: %v", a, p, err)
			case <-timeout:
				pc.Close()
				t.Fatalf("sarama (%v) consumed %d records before the deadline", a, len(got))
			}
		}
		pc.Close()
	}
	verifyExactlyOnceInOrder(t, w, partitions, got)
}

func produceConsumeKcatSecure(t *testing.T, a secureAuth, topic string, partitions int) {
	kcat := kcatPath(t)
	w := newWorkload(secureRecords, 100, topic)
	var in bytes.Buffer
	for i := range w.values {
		in.Write(w.keys[i])
		in.WriteByte('\t')
		in.Write(w.values[i])
		in.WriteByte('\n')
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	produce := exec.CommandContext(ctx, kcat, append(a.kcatArgs(), "-P", "-t", topic, "-K", "\t",
		"-X", "topic.partitioner=murmur2_random", "-X", "linger.ms=5", "-X", "acks=all")...)
	produce.Stdin = &in
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce (%v): %v\n%s", a, err, out)
	}
	consume := exec.CommandContext(ctx, kcat, append(a.kcatArgs(), "-C", "-t", topic,
		"-o", "beginning", "-e", "-q", "-f", "%p\t%o\t%k\t%s\n")...)
	var stderr bytes.Buffer
	consume.Stderr = &stderr
	out, err := consume.Output()
	if err != nil {
		t.Fatalf("kcat consume (%v): %v\n%s", a, err, stderr.String())
	}
	verifyExactlyOnceInOrder(t, w, partitions, sortByPartition(kcatRecords(t, out), partitions))
}

// ---- cluster state through a secured client ---------------------------------

// createSecureTopic creates a topic as admin and waits until every broker
// shows a leader for each partition.
func createSecureTopic(t *testing.T, c *cluster.Cluster, name string, partitions int32, rf int16, configs map[string]string) {
	t.Helper()
	a := adminAuth(c)
	if code := tryCreateTopicThrough(t, a.client(t), name, partitions, rf, configs); code != 0 {
		t.Fatalf("create topic %s as admin: %v", name, kerr.ErrorForCode(code))
	}
	for _, id := range c.BrokerIDs() {
		waitForLeadersAt(t, a.brokerClient(t, id), fmt.Sprintf("broker %d", id), name, int(partitions))
	}
}

// kzoo runs the kzoo CLI against c as admin (--command-config) and returns
// its output; the test fails if it fails.
func kzooSecure(t *testing.T, c *cluster.Cluster, args ...string) string {
	t.Helper()
	out, err := tryKzooSecure(t, c, args...)
	if err != nil {
		t.Fatalf("kzoo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func tryKzooSecure(t *testing.T, c *cluster.Cluster, args ...string) (string, error) {
	t.Helper()
	bin, err := c.Binary("kzoo")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"--bootstrap-server", strings.Join(c.Bootstrap(), ","), "--command-config", c.CommandConfigPath()}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	// The caller's own defaults must not change what the test runs.
	cmd.Env = cliEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cliEnv is the test's environment without KZOO_* settings.
func cliEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KZOO_") {
			env = append(env, kv)
		}
	}
	return env
}

// ---- raw protocol, for what no client library would send --------------------

// rawConn speaks Kafka's protocol on one connection, request by request.
type rawConn struct {
	conn net.Conn
	corr int32
}

// dialRaw connects to addr, over TLS when cfg is not nil (the handshake is
// done before it returns).
func dialRaw(t *testing.T, addr string, cfg *tls.Config) *rawConn {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	if cfg != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, cfg)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{conn: conn}
}

// send writes req; a write error is returned (the broker may have closed
// the connection already, which some tests expect).
func (r *rawConn) send(req kmsg.Request) error {
	r.corr++
	msg := kmsg.NewRequestFormatter(kmsg.FormatterClientID("kzoo-e2e-security")).AppendRequest(nil, req, r.corr)
	r.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := r.conn.Write(msg)
	return err
}

// roundTrip sends req and reads its response.
func (r *rawConn) roundTrip(t *testing.T, req kmsg.Request) kmsg.Response {
	t.Helper()
	if err := r.send(req); err != nil {
		t.Fatalf("send %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	resp, err := r.receive(req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// receive reads the response to req, the last request sent.
func (r *rawConn) receive(req kmsg.Request) (kmsg.Response, error) {
	r.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(r.conn, size[:]); err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 64<<20 {
		return nil, fmt.Errorf("response of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.conn, body); err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != r.corr {
		return nil, fmt.Errorf("response to correlation id %d, want %d", corr, r.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	// Response header v1 (a tag section) for flexible versions, except
	// ApiVersions, whose header is always v0.
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		b := kbin.Reader{Src: body}
		for tags := b.Uvarint(); tags > 0; tags-- {
			b.Uvarint()
			b.Span(int(b.Uvarint()))
		}
		if !b.Ok() {
			return nil, errors.New("response header: truncated tag section")
		}
		body = b.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return resp, nil
}

// expectClosed wants the broker to close the connection, without sending
// any response, within refuseDeadline.
func (r *rawConn) expectClosed(t *testing.T, what string) {
	t.Helper()
	expectConnClosed(t, r.conn, what, false)
}

// expectConnClosed wants conn closed by the broker, with nothing read
// before, within refuseDeadline; with tlsAlertOK, bytes of a TLS alert
// record (type 21) may come first.
func expectConnClosed(t *testing.T, conn net.Conn, what string, tlsAlertOK bool) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(refuseDeadline))
	got, err := io.ReadAll(conn)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Errorf("%s: connection not closed within %v (read %d bytes)", what, refuseDeadline, len(got))
		return
	case err == nil, errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		// A TLS connection reports the peer's alert as an error: it was
		// closed all the same.
		var alert tls.AlertError
		var recErr tls.RecordHeaderError
		if !errors.As(err, &alert) && !errors.As(err, &recErr) && !strings.Contains(err.Error(), "tls:") {
			t.Errorf("%s: read error %v, want the connection closed", what, err)
			return
		}
	}
	if len(got) > 0 && !(tlsAlertOK && got[0] == 21) {
		t.Errorf("%s: %d bytes answered before the close (% x...), want none", what, len(got), got[:min(len(got), 16)])
	}
}

// scramConversation starts a SCRAM-SHA-512 conversation for user.
func scramConversation(t *testing.T, user, password string) *xscram.ClientConversation {
	t.Helper()
	client, err := xscram.SHA512.NewClient(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	return client.NewConversation()
}
