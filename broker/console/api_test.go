package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
)

func TestServeBrokerReport(t *testing.T) {
	src := &stubSource{id: 7}
	rep := reportAt(t0, 10, 20, TopicReport{Topic: "orders", BytesIn: 10, BytesOut: 20, SizeBytes: 30})
	rep.Partitions = []PartitionReport{{TopicPartition: zkpaths.TopicPartition{Topic: "orders", Partition: 2}, Leader: true, LogEnd: 99}}
	src.set(rep, nil)
	c := New(src, Config{})

	tests := []struct {
		method, target string
		status         int
		body           string // a part of the body
	}{
		{"GET", "/api/broker", 200, `"broker":7`},
		{"GET", "/api/broker?topic=orders", 200, `"log_end":99`},
		{"HEAD", "/api/broker", 200, ""},
		{"POST", "/api/broker", 405, "method not allowed"},
		{"DELETE", "/api/broker", 405, "method not allowed"},
		{"GET", "/api/broker?topic=", 400, "bad parameter topic: invalid topic name: the name is empty"},
		{"GET", "/api/broker?topic=%3Cb%3E", 400, "bad parameter topic"},
		{"GET", "/api/broker?topic=..", 400, "reserved"},
		{"GET", "/api/broker?topic=" + strings.Repeat("x", 250), 400, "the limit is 249"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target[:min(len(tt.target), 40)], func(t *testing.T) {
			w := httptest.NewRecorder()
			c.serveBrokerReport(w, httptest.NewRequest(tt.method, tt.target, nil))
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.body) {
				t.Fatalf("status %d body %q, want %d with %q", w.Code, w.Body.String(), tt.status, tt.body)
			}
			if tt.status == 405 && w.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow: %q", w.Header().Get("Allow"))
			}
			if tt.status == 200 && w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type: %q", w.Header().Get("Content-Type"))
			}
			if tt.method == "HEAD" && w.Body.Len() != 0 {
				t.Errorf("HEAD answered a body of %d bytes", w.Body.Len())
			}
		})
	}
	if got := src.topics; len(got) != 3 || got[0] != "" || got[1] != "orders" {
		t.Errorf("Report asked for topics %q", got)
	}

	// The JSON decodes into the report it encodes.
	w := httptest.NewRecorder()
	c.serveBrokerReport(w, httptest.NewRequest("GET", "/api/broker?topic=orders", nil))
	var back BrokerReport
	if err := json.Unmarshal(w.Body.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Broker != 7 || !back.Time.Equal(t0) || back.Topics[0].SizeBytes != 30 || back.Partitions[0].Partition != 2 {
		t.Errorf("decoded %+v", back)
	}
}

func TestServeBrokerReportUnavailable(t *testing.T) {
	src := &stubSource{id: 1}
	src.set(BrokerReport{}, errors.New("not started yet"))
	c := New(src, Config{})
	w := httptest.NewRecorder()
	c.serveBrokerReport(w, httptest.NewRequest("GET", "/api/broker", nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "not started yet") {
		t.Errorf("status %d body %q", w.Code, w.Body.String())
	}

	// A report that does not come back in time is cut at PeerTimeout.
	src = &stubSource{id: 1, blockOn: make(chan struct{})}
	c = New(src, Config{PeerTimeout: 50 * time.Millisecond})
	w = httptest.NewRecorder()
	c.serveBrokerReport(w, httptest.NewRequest("GET", "/api/broker", nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "deadline exceeded") {
		t.Errorf("status %d body %q", w.Code, w.Body.String())
	}
}
