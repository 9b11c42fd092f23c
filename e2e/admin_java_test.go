package e2e

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// Config sources of DescribeConfigs and CreateTopics (Kafka's values).
const (
	sourceDynamicTopic         = 1
	sourceDynamicBroker        = 2
	sourceDynamicDefaultBroker = 3
	sourceStaticBroker         = 4
	sourceDefault              = 5
)

// TestAdminConfigs pins the admin answers Java's AdminClient depends on:
// CreateTopics v5+ returning the created topic's configs (KIP-525), and
// Kafka's dynamic broker configs, accepted, described with their sources
// and in effect at run time. With Kafka 2.4.1's tools at hand it also runs
// kafka-topics.sh and kafka-configs.sh on those paths.
func TestAdminConfigs(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 1, PortOffset: 10500, Env: map[string]string{
		"KZOO_LOG_RETENTION_MS": "7200000",
	}})
	waitForLiveBrokers(t, c.Bootstrap(), 1)

	t.Run("create-topics-configs", func(t *testing.T) { testCreateTopicsConfigs(t, c) })
	t.Run("dynamic-broker-configs", func(t *testing.T) { testDynamicBrokerConfigs(t, c) })
	t.Run("max-connections-per-ip", func(t *testing.T) { testMaxConnectionsPerIP(t, c) })
	t.Run("java-tools", func(t *testing.T) { testAdminJavaTools(t, c) })
}

// clientAt is a client that speaks version at most to key.
func clientAt(t *testing.T, bootstrap []string, key kmsg.Key, version int16) *kgo.Client {
	t.Helper()
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(int16(key), version)
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.MaxVersions(versions))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCreateTopicsConfigs(t *testing.T, c *cluster.Cluster) {
	for _, version := range []int16{5, 6, 7} {
		for _, validateOnly := range []bool{true, false} {
			name := "kip525-v" + itoa(int(version))
			req := kmsg.NewPtrCreateTopicsRequest()
			req.TimeoutMillis, req.ValidateOnly = 30000, validateOnly
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 3, 1
			cfg := kmsg.NewCreateTopicsRequestTopicConfig()
			cfg.Name, cfg.Value = "cleanup.policy", kmsg.StringPtr("compact")
			rt.Configs = append(rt.Configs, cfg)
			req.Topics = append(req.Topics, rt)
			resp := request[*kmsg.CreateTopicsResponse](t, clientAt(t, c.Bootstrap(), kmsg.CreateTopics, version), req)
			if resp.Version != version {
				t.Fatalf("answered at v%d, want v%d", resp.Version, version)
			}
			got := resp.Topics[0]
			if got.ErrorCode != 0 {
				t.Fatalf("v%d validate_only=%v: %v", version, validateOnly, kerr.ErrorForCode(got.ErrorCode))
			}
			if got.NumPartitions != 3 || got.ReplicationFactor != 1 || got.ConfigErrorCode != 0 {
				t.Errorf("v%d validate_only=%v: partitions %d, replication factor %d, config error %d; want 3, 1, 0",
					version, validateOnly, got.NumPartitions, got.ReplicationFactor, got.ConfigErrorCode)
			}
			if got.Configs == nil {
				t.Fatalf("v%d validate_only=%v: configs are null", version, validateOnly)
			}
			configs := make(map[string]kmsg.CreateTopicsResponseTopicConfig)
			for _, c := range got.Configs {
				configs[c.Name] = c
			}
			for key, want := range map[string]struct {
				value  string
				source int8
			}{
				"cleanup.policy":        {"compact", sourceDynamicTopic},
				"retention.ms":          {"7200000", sourceStaticBroker},
				"min.compaction.lag.ms": {"0", sourceDefault},
			} {
				c := configs[key]
				if c.Value == nil || *c.Value != want.value || c.Source != want.source || c.ReadOnly || c.IsSensitive {
					t.Errorf("v%d validate_only=%v: %s = %+v, want %s from source %d", version, validateOnly, key, c, want.value, want.source)
				}
			}
			var zero [16]byte
			if version >= 7 && !validateOnly && got.TopicID == zero {
				t.Errorf("v%d: no topic id for the created topic", version)
			}
		}
	}
}

// describeBrokerConfig returns the entry of key that broker entity
// describes, with synonyms.
func describeBrokerConfig(t *testing.T, cl *kgo.Client, entity, key string) (kmsg.DescribeConfigsResponseResourceConfig, bool) {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeBroker, entity, []string{key}
	req.Resources = append(req.Resources, rr)
	resp := request[*kmsg.DescribeConfigsResponse](t, cl, req)
	if code := resp.Resources[0].ErrorCode; code != 0 {
		t.Fatalf("DescribeConfigs of broker %q: %v", entity, kerr.ErrorForCode(code))
	}
	for _, c := range resp.Resources[0].Configs {
		if c.Name == key {
			return c, true
		}
	}
	return kmsg.DescribeConfigsResponseResourceConfig{}, false
}

// alterBrokerConfigs applies incremental SETs (a nil value deletes) to a
// broker entity and returns the error code and message.
func alterBrokerConfigs(t *testing.T, cl *kgo.Client, entity string, configs map[string]*string) (int16, string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, entity
	for name, value := range configs {
		rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		rc.Name, rc.Value, rc.Op = name, value, kmsg.IncrementalAlterConfigOpSet
		if value == nil {
			rc.Op = kmsg.IncrementalAlterConfigOpDelete
		}
		rr.Configs = append(rr.Configs, rc)
	}
	req.Resources = append(req.Resources, rr)
	resp := request[*kmsg.IncrementalAlterConfigsResponse](t, cl, req)
	r := resp.Resources[0]
	msg := ""
	if r.ErrorMessage != nil {
		msg = *r.ErrorMessage
	}
	return r.ErrorCode, msg
}

func testDynamicBrokerConfigs(t *testing.T, c *cluster.Cluster) {
	cl := admin(t, c.Bootstrap())
	if code, msg := alterBrokerConfigs(t, cl, "", map[string]*string{
		"log.cleaner.threads": kmsg.StringPtr("2"), "log.cleaner.io.max.bytes.per.second": kmsg.StringPtr("10485760"),
		"num.replica.fetchers": kmsg.StringPtr("2"), "message.max.bytes": kmsg.StringPtr("2000000"),
	}); code != 0 {
		t.Fatalf("cluster default: %v: %s", kerr.ErrorForCode(code), msg)
	}
	if code, msg := alterBrokerConfigs(t, cl, "1", map[string]*string{"log.cleaner.threads": kmsg.StringPtr("3")}); code != 0 {
		t.Fatalf("broker 1: %v: %s", kerr.ErrorForCode(code), msg)
	}
	poll.Until(t, 30*time.Second, "broker 1 to describe its dynamic configs", func() bool {
		threads, ok1 := describeBrokerConfig(t, cl, "1", "log.cleaner.threads")
		fetchers, ok2 := describeBrokerConfig(t, cl, "1", "num.replica.fetchers")
		return ok1 && ok2 && threads.Value != nil && *threads.Value == "3" && fetchers.Value != nil && *fetchers.Value == "2"
	})
	// The cleaner takes the new settings at run time (it logs them).
	poll.Until(t, 30*time.Second, "the log cleaner to run on 3 threads at 10 MiB/s", func() bool {
		return regexp.MustCompile(`msg="log cleaner settings changed".* io_max_bytes_per_second=1\.048576e\+07 .*threads=3`).MatchString(c.BrokerLog(1))
	})
	threads, _ := describeBrokerConfig(t, cl, "1", "log.cleaner.threads")
	var sources []int8
	for _, s := range threads.ConfigSynonyms {
		sources = append(sources, int8(s.Source))
	}
	if threads.Source != sourceDynamicBroker || threads.ReadOnly ||
		!slices.Equal(sources, []int8{sourceDynamicBroker, sourceDynamicDefaultBroker, sourceDefault}) {
		t.Errorf("log.cleaner.threads of broker 1: source %d, read-only %v, synonyms' sources %v; want 2, writable, [2 3 5]", threads.Source, threads.ReadOnly, sources)
	}
	if def, ok := describeBrokerConfig(t, cl, "", "log.cleaner.threads"); !ok || def.Value == nil || *def.Value != "2" || def.Source != sourceDynamicDefaultBroker {
		t.Errorf("log.cleaner.threads of the cluster default = %+v, want 2 from DYNAMIC_DEFAULT_BROKER_CONFIG", def)
	}
	// A topic's default follows the dynamic message.max.bytes.
	createTopic(t, c.Bootstrap(), "dynamic-defaults", 1, 1, nil)
	poll.Until(t, 30*time.Second, "max.message.bytes to follow the dynamic message.max.bytes", func() bool {
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, "dynamic-defaults", []string{"max.message.bytes"}
		req.Resources = append(req.Resources, rr)
		resp := request[*kmsg.DescribeConfigsResponse](t, cl, req)
		cs := resp.Resources[0].Configs
		return len(cs) == 1 && cs[0].Value != nil && *cs[0].Value == "2000000" && cs[0].Source == sourceDynamicDefaultBroker
	})

	for key, wantCode := range map[string]int16{"num.io.threads": kerr.InvalidConfig.Code, "broker.id": kerr.InvalidRequest.Code} {
		code, msg := alterBrokerConfigs(t, cl, "", map[string]*string{key: kmsg.StringPtr("8")})
		if code != wantCode || !strings.Contains(msg, "kzoo does not support updating "+key+" dynamically") {
			t.Errorf("%s: %v %q, want %v saying kzoo does not support updating it dynamically", key, kerr.ErrorForCode(code), msg, kerr.ErrorForCode(wantCode))
		}
	}
	// Back to the defaults, for the subtests that follow.
	alterBrokerConfigs(t, cl, "", map[string]*string{"log.cleaner.threads": nil, "log.cleaner.io.max.bytes.per.second": nil, "num.replica.fetchers": nil, "message.max.bytes": nil})
	alterBrokerConfigs(t, cl, "1", map[string]*string{"log.cleaner.threads": nil})
}

// answersAPIVersions opens a connection to addr and reports whether the
// broker answers an ApiVersions request on it; the connection is left
// open (closed at the end of the test) so that it keeps counting.
func answersAPIVersions(t *testing.T, addr string) bool {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("max-connections")).AppendRequest(nil, req, 1)
	if err := nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(frame); err != nil {
		return false // closed by the broker before the write
	}
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no answer and no close within 10s from %s", addr)
		}
		return false
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err = io.ReadFull(nc, body)
	return err == nil
}

// testMaxConnectionsPerIP lowers max.connections.per.ip on the running
// broker and sees the connections beyond it closed, then raises it again.
func testMaxConnectionsPerIP(t *testing.T, c *cluster.Cluster) {
	cl := admin(t, c.Bootstrap())
	addr := c.BrokerAddr(1)
	// The admin client's own connections count too; 6 leaves room for
	// them and a few of the test's.
	if code, msg := alterBrokerConfigs(t, cl, "1", map[string]*string{"max.connections.per.ip": kmsg.StringPtr("6")}); code != 0 {
		t.Fatalf("%v: %s", kerr.ErrorForCode(code), msg)
	}
	poll.Until(t, 30*time.Second, "the broker to refuse connections beyond max.connections.per.ip", func() bool {
		return !answersAPIVersions(t, addr)
	})
	if code, msg := alterBrokerConfigs(t, cl, "1", map[string]*string{"max.connections.per.ip": nil}); code != 0 {
		t.Fatalf("%v: %s", kerr.ErrorForCode(code), msg)
	}
	poll.Until(t, 30*time.Second, "the broker to accept connections again", func() bool {
		return answersAPIVersions(t, addr)
	})
}

func testAdminJavaTools(t *testing.T, c *cluster.Cluster) {
	tools := newKafkaTools(t)
	bootstrap := strings.Join(c.Bootstrap(), ",")

	// AdminClient.createTopics: a NullPointerException on null configs.
	// (Through --bootstrap-server, 2.4.1's tool prints nothing on success.)
	out := tools.run(t, "", "kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", "java-created",
		"--partitions", "3", "--replication-factor", "1")
	if out.exit != 0 || strings.Contains(out.text(), "Exception") {
		t.Errorf("kafka-topics --create: exit %d, want 0 and no exception", out.exit)
	}
	waitForLeaders(t, c.Bootstrap(), "java-created", 3)

	out = tools.run(t, "", "kafka-configs", "--bootstrap-server", bootstrap, "--entity-type", "brokers", "--entity-default",
		"--alter", "--add-config", "log.cleaner.threads=2")
	if out.exit != 0 {
		t.Errorf("kafka-configs --entity-default --alter --add-config log.cleaner.threads=2: exit %d, want 0", out.exit)
	}
	out = tools.run(t, "", "kafka-configs", "--bootstrap-server", bootstrap, "--entity-type", "brokers", "--entity-default", "--describe")
	if out.exit != 0 || !strings.Contains(out.text(), "log.cleaner.threads=2") {
		t.Errorf("kafka-configs --entity-default --describe: exit %d, want 0 and log.cleaner.threads=2 listed", out.exit)
	}
	out = tools.run(t, "", "kafka-configs", "--bootstrap-server", bootstrap, "--entity-type", "brokers", "--entity-name", "1",
		"--alter", "--add-config", "max.connections=1000")
	if out.exit != 0 {
		t.Errorf("kafka-configs --entity-name 1 --alter --add-config max.connections=1000: exit %d, want 0", out.exit)
	}
	poll.Until(t, 30*time.Second, "broker 1 to describe its own max.connections", func() bool {
		out := tools.run(t, "", "kafka-configs", "--bootstrap-server", bootstrap, "--entity-type", "brokers", "--entity-name", "1", "--describe")
		return out.exit == 0 && strings.Contains(out.text(), "max.connections=1000") && strings.Contains(out.text(), "DYNAMIC_BROKER_CONFIG")
	})

	out = tools.run(t, "", "kafka-configs", "--bootstrap-server", bootstrap, "--entity-type", "brokers", "--entity-default",
		"--alter", "--add-config", "num.io.threads=16")
	if out.exit == 0 || !strings.Contains(out.text(), "kzoo does not support updating num.io.threads dynamically") {
		t.Errorf("kafka-configs --add-config num.io.threads=16: exit %d, want a failure saying kzoo does not support updating it dynamically", out.exit)
	}
}
