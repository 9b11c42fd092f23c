package broker

import (
	"context"
	"io"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/logging"
)

// loggerServer is broker 1 with a root logger and the storage and server
// component loggers, all at INFO.
func loggerServer(t *testing.T) *Server {
	loggers := logging.New(io.Discard, &logrus.TextFormatter{}, logrus.InfoLevel, nil)
	s := &Server{cfg: testBrokerConfig(t), loggers: loggers, logger: loggers.Component("server")}
	loggers.Component("storage")
	return s
}

func describeLoggers(t *testing.T, s *Server, name string) (map[string]string, int16) {
	t.Helper()
	in := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, name
	in.Resources = append(in.Resources, rr)
	resp := callHandler(s, context.Background(), &request{key: in.Key(), version: 2, body: in}).(*kmsg.DescribeConfigsResponse)
	levels := make(map[string]string)
	for _, c := range resp.Resources[0].Configs {
		if c.Source != kmsg.ConfigSourceDynamicBrokerLoggerConfig || c.ReadOnly || c.Value == nil {
			t.Errorf("logger %s: source %v read-only %v value %v, want a DYNAMIC_BROKER_LOGGER_CONFIG level", c.Name, c.Source, c.ReadOnly, c.Value)
			continue
		}
		levels[c.Name] = *c.Value
	}
	return levels, resp.Resources[0].ErrorCode
}

func alterLoggers(s *Server, name string, validateOnly bool, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) int16 {
	in := kmsg.NewPtrIncrementalAlterConfigsRequest()
	in.ValidateOnly = validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.Configs = kmsg.ConfigResourceTypeBrokerLogger, name, ops
	in.Resources = append(in.Resources, rr)
	resp := callHandler(s, context.Background(), &request{key: in.Key(), body: in}).(*kmsg.IncrementalAlterConfigsResponse)
	return resp.Resources[0].ErrorCode
}

func loggerOp(name string, op kmsg.IncrementalAlterConfigOp, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = name, op, value
	return c
}

func TestBrokerLoggers(t *testing.T) {
	s := loggerServer(t)
	levels, code := describeLoggers(t, s, "1")
	if code != 0 || len(levels) != 3 || levels["kzoo"] != "INFO" || levels["server"] != "INFO" || levels["storage"] != "INFO" {
		t.Fatalf("described %v (error %d), want kzoo, server and storage at INFO", levels, code)
	}
	if _, code := describeLoggers(t, s, "2"); code != kerr.InvalidRequest.Code {
		t.Errorf("another broker's loggers: error %d, want INVALID_REQUEST", code)
	}

	debug, loud := "DEBUG", "LOUD"
	set := loggerOp("storage", kmsg.IncrementalAlterConfigOpSet, &debug)
	if code := alterLoggers(s, "1", true, set); code != 0 {
		t.Fatalf("validate-only SET: error %d", code)
	}
	if levels, _ := describeLoggers(t, s, "1"); levels["storage"] != "INFO" {
		t.Fatalf("validate-only changed the level: %v", levels)
	}
	if code := alterLoggers(s, "1", false, set); code != 0 {
		t.Fatalf("SET: error %d", code)
	}
	if levels, _ := describeLoggers(t, s, "1"); levels["storage"] != "DEBUG" || levels["server"] != "INFO" {
		t.Fatalf("after SET storage=DEBUG: %v", levels)
	}
	if code := alterLoggers(s, "1", false, loggerOp("storage", kmsg.IncrementalAlterConfigOpDelete, nil)); code != 0 {
		t.Fatalf("DELETE: error %d", code)
	}
	if levels, _ := describeLoggers(t, s, "1"); levels["storage"] != "INFO" {
		t.Fatalf("after DELETE storage is at %s, want the root's INFO", levels["storage"])
	}

	for name, tc := range map[string]struct {
		broker string
		ops    []kmsg.IncrementalAlterConfigsRequestResourceConfig
		want   *kerr.Error
	}{
		"unknown level":        {"1", []kmsg.IncrementalAlterConfigsRequestResourceConfig{loggerOp("storage", kmsg.IncrementalAlterConfigOpSet, &loud)}, kerr.InvalidConfig},
		"unknown logger":       {"1", []kmsg.IncrementalAlterConfigsRequestResourceConfig{loggerOp("kafka", kmsg.IncrementalAlterConfigOpSet, &debug)}, kerr.InvalidConfig},
		"root reset":           {"1", []kmsg.IncrementalAlterConfigsRequestResourceConfig{loggerOp("kzoo", kmsg.IncrementalAlterConfigOpDelete, nil)}, kerr.InvalidRequest},
		"append":               {"1", []kmsg.IncrementalAlterConfigsRequestResourceConfig{loggerOp("storage", kmsg.IncrementalAlterConfigOpAppend, &debug)}, kerr.InvalidRequest},
		"another broker":       {"2", []kmsg.IncrementalAlterConfigsRequestResourceConfig{set}, kerr.InvalidRequest},
		"one bad, none change": {"1", []kmsg.IncrementalAlterConfigsRequestResourceConfig{set, loggerOp("server", kmsg.IncrementalAlterConfigOpSet, &loud)}, kerr.InvalidConfig},
	} {
		if code := alterLoggers(s, tc.broker, false, tc.ops...); code != tc.want.Code {
			t.Errorf("%s: error %d, want %s", name, code, tc.want.Message)
		}
	}
	if levels, _ := describeLoggers(t, s, "1"); levels["storage"] != "INFO" || levels["server"] != "INFO" {
		t.Errorf("refused changes changed levels: %v", levels)
	}

	in := kmsg.NewPtrAlterConfigsRequest()
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, "1"
	in.Resources = append(in.Resources, rr)
	resp := callHandler(s, context.Background(), &request{key: in.Key(), body: in}).(*kmsg.AlterConfigsResponse)
	if resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("AlterConfigs of broker loggers: error %d, want INVALID_REQUEST", resp.Resources[0].ErrorCode)
	}
}
