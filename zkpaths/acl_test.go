package zkpaths

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Payloads as Kafka 2.4.1's kafka-acls.sh --authorizer-properties
// zookeeper.connect=... wrote them.
const (
	kafkaTopicACLs = `{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read","host":"*"},` +
		`{"principal":"User:alice","permissionType":"Allow","operation":"Write","host":"*"}]}`
	kafkaLiteralChange  = "Cluster:kafka-cluster"
	kafkaExtendedChange = `{"version":1,"resourceType":"TransactionalId","name":"tx","patternType":"PREFIXED"}`
)

func TestACLPaths(t *testing.T) {
	tests := []struct {
		r    ACLResource
		want string
	}{
		{ACLResource{kmsg.ACLResourceTypeTopic, "foo", kmsg.ACLResourcePatternTypeLiteral}, "/kafka-acl/Topic/foo"},
		{ACLResource{kmsg.ACLResourceTypeGroup, "*", kmsg.ACLResourcePatternTypeLiteral}, "/kafka-acl/Group/*"},
		{ACLResource{kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLResourcePatternTypeLiteral}, "/kafka-acl/Cluster/kafka-cluster"},
		{ACLResource{kmsg.ACLResourceTypeTransactionalId, "tx", kmsg.ACLResourcePatternTypePrefixed}, "/kafka-acl-extended/prefixed/TransactionalId/tx"},
		{ACLResource{kmsg.ACLResourceTypeDelegationToken, "d", kmsg.ACLResourcePatternTypePrefixed}, "/kafka-acl-extended/prefixed/DelegationToken/d"},
		{ACLResource{kmsg.ACLResourceTypeUser, "u", kmsg.ACLResourcePatternTypeLiteral}, "/kafka-acl/User/u"},
	}
	for _, tt := range tests {
		got, err := ACLResourcePath(tt.r)
		if err != nil || got != tt.want {
			t.Errorf("ACLResourcePath(%+v) = %q, %v; want %q", tt.r, got, err, tt.want)
		}
	}
	for _, bad := range []ACLResource{
		{kmsg.ACLResourceTypeAny, "t", kmsg.ACLResourcePatternTypeLiteral},
		{kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeMatch},
		{kmsg.ACLResourceTypeTopic, "", kmsg.ACLResourcePatternTypeLiteral},
		{kmsg.ACLResourceTypeTopic, "a/b", kmsg.ACLResourcePatternTypeLiteral},
		{kmsg.ACLResourceTypeTopic, "..", kmsg.ACLResourcePatternTypePrefixed},
	} {
		if p, err := ACLResourcePath(bad); err == nil {
			t.Errorf("ACLResourcePath(%+v) = %q, want an error", bad, p)
		}
	}

	paths := ACLPaths()
	for _, want := range []string{"/kafka-acl", "/kafka-acl/Topic", "/kafka-acl/TransactionalId", "/kafka-acl-extended",
		"/kafka-acl-extended/prefixed", "/kafka-acl-extended/prefixed/Group", LiteralACLChangesPath, ExtendedACLChangesPath} {
		if !slices.Contains(paths, want) {
			t.Errorf("ACLPaths lacks %s: %v", want, paths)
		}
	}
	for i, p := range paths {
		parent := p[:strings.LastIndex(p, "/")]
		if parent != "" && !slices.Contains(paths[:i], parent) {
			t.Errorf("ACLPaths: %s comes before its parent %s", p, parent)
		}
	}

	if got := ACLChangeSequencePath(kmsg.ACLResourcePatternTypeLiteral); got != "/kafka-acl-changes/acl_changes_" {
		t.Errorf("literal change path %s", got)
	}
	if got := ACLChangeSequencePath(kmsg.ACLResourcePatternTypePrefixed); got != "/kafka-acl-extended-changes/acl_changes_" {
		t.Errorf("prefixed change path %s", got)
	}
	if n, ok := ParseACLChangeSequence("acl_changes_0000000042"); !ok || n != 42 {
		t.Errorf("ParseACLChangeSequence = %d, %v", n, ok)
	}
	for _, bad := range []string{"acl_changes_", "acl_changes_12a", "config_change_0000000001", "acl_changes_-1"} {
		if _, ok := ParseACLChangeSequence(bad); ok {
			t.Errorf("ParseACLChangeSequence(%q) accepted", bad)
		}
	}
}

func TestACLTypeNames(t *testing.T) {
	for _, name := range []string{"Topic", "Group", "Cluster", "TransactionalId", "DelegationToken", "User"} {
		typ, ok := ParseACLResourceTypeName(name)
		back, _ := ACLResourceTypeName(typ)
		if !ok || back != name {
			t.Errorf("%s: parsed %v %v, back %q", name, typ, ok, back)
		}
	}
	for _, bad := range []string{"TOPIC", "topic", "Any", "Unknown", ""} {
		if typ, ok := ParseACLResourceTypeName(bad); ok {
			t.Errorf("ParseACLResourceTypeName(%q) = %v: Kafka's folders are spelled exactly", bad, typ)
		}
	}
	if _, ok := ACLOperationName(kmsg.ACLOperationAny); ok {
		t.Error("ANY has an operation name")
	}
	if name, _ := ACLOperationName(kmsg.ACLOperationIdempotentWrite); name != "IdempotentWrite" {
		t.Errorf("IdempotentWrite named %q", name)
	}
}

func TestACLsCodec(t *testing.T) {
	entries, err := UnmarshalACLs([]byte(kafkaTopicACLs))
	if err != nil {
		t.Fatal(err)
	}
	want := []ACLEntry{
		{"User:alice", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow},
		{"User:alice", "*", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeAllow},
	}
	if !reflect.DeepEqual(entries, want) {
		t.Fatalf("decoded %+v\nwant %+v", entries, want)
	}
	data, err := MarshalACLs(entries)
	if err != nil || string(data) != kafkaTopicACLs {
		t.Errorf("re-encoded %s, %v\nwant Kafka's %s", data, err, kafkaTopicACLs)
	}

	every := []ACLEntry{{"User:CN=a,O=<b>&c", "::1", kmsg.ACLOperationDescribeConfigs, kmsg.ACLPermissionTypeDeny}}
	for op := kmsg.ACLOperationAll; op <= kmsg.ACLOperationDescribeTokens; op++ {
		every = append(every, ACLEntry{"User:*", "10.0.0.1", op, kmsg.ACLPermissionTypeAllow})
	}
	data, err = MarshalACLs(every)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"principal":"User:CN=a,O=<b>&c"`) || !strings.Contains(string(data), `"operation":"DescribeConfigs"`) {
		t.Errorf("encoding %s", data)
	}
	back, err := UnmarshalACLs(data)
	if err != nil || !reflect.DeepEqual(back, every) {
		t.Errorf("round trip: %+v, %v\nwant %+v", back, err, every)
	}

	if got, err := UnmarshalACLs(nil); err != nil || got != nil {
		t.Errorf("empty znode: %v, %v", got, err)
	}
	// Other spellings read; names this version does not know read as UNKNOWN.
	lenient, err := UnmarshalACLs([]byte(`{"version":1,"acls":[{"principal":"User:a","permissionType":"DENY","operation":"DESCRIBE_CONFIGS","host":"*"},` +
		`{"principal":"User:a","permissionType":"Maybe","operation":"Fly","host":"*"},{"principal":"User:a","permissionType":"Any","operation":"Any","host":"*"}],"extra":true}`))
	wantLenient := []ACLEntry{
		{"User:a", "*", kmsg.ACLOperationDescribeConfigs, kmsg.ACLPermissionTypeDeny},
		{"User:a", "*", kmsg.ACLOperationUnknown, kmsg.ACLPermissionTypeUnknown},
		{"User:a", "*", kmsg.ACLOperationUnknown, kmsg.ACLPermissionTypeUnknown},
	}
	if err != nil || !reflect.DeepEqual(lenient, wantLenient) {
		t.Errorf("lenient decoding: %+v, %v", lenient, err)
	}

	for _, bad := range []string{`{`, `{"acls":[]}`, `{"version":0,"acls":[]}`, `{"version":1,"acls":[{"principal":"","permissionType":"Allow","operation":"Read","host":"*"}]}`,
		`{"version":1,"acls":[{"principal":"User:a","permissionType":"Allow","operation":"Read"}]}`, `[]`} {
		if got, err := UnmarshalACLs([]byte(bad)); err == nil {
			t.Errorf("UnmarshalACLs(%s) = %+v, want an error", bad, got)
		}
	}
	if _, err := MarshalACLs([]ACLEntry{{"User:a", "*", kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAllow}}); err == nil {
		t.Error("encoded operation ANY")
	}
	if _, err := MarshalACLs([]ACLEntry{{"User:a", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAny}}); err == nil {
		t.Error("encoded permission ANY")
	}
}

func TestACLChangeCodec(t *testing.T) {
	literal := ACLResource{kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLResourcePatternTypeLiteral}
	data, err := MarshalACLChange(literal)
	if err != nil || string(data) != kafkaLiteralChange {
		t.Errorf("literal change %q, %v; want Kafka's %q", data, err, kafkaLiteralChange)
	}
	prefixed := ACLResource{kmsg.ACLResourceTypeTransactionalId, "tx", kmsg.ACLResourcePatternTypePrefixed}
	data, err = MarshalACLChange(prefixed)
	if err != nil || string(data) != kafkaExtendedChange {
		t.Errorf("extended change %s, %v; want Kafka's %s", data, err, kafkaExtendedChange)
	}

	tests := []struct {
		folder, data string
		want         ACLResource
	}{
		{LiteralACLChangesPath, kafkaLiteralChange, literal},
		{LiteralACLChangesPath, "Topic:a:b", ACLResource{kmsg.ACLResourceTypeTopic, "a:b", kmsg.ACLResourcePatternTypeLiteral}},
		{LiteralACLChangesPath, "TRANSACTIONAL_ID:x", ACLResource{kmsg.ACLResourceTypeTransactionalId, "x", kmsg.ACLResourcePatternTypeLiteral}},
		{ExtendedACLChangesPath, kafkaExtendedChange, prefixed},
		{ExtendedACLChangesPath, `{"version":1,"resourceType":"TRANSACTIONAL_ID","name":"tx","patternType":"Prefixed"}`, prefixed},
	}
	for _, tt := range tests {
		got, err := UnmarshalACLChange(tt.folder, []byte(tt.data))
		if err != nil || got != tt.want {
			t.Errorf("UnmarshalACLChange(%s, %s) = %+v, %v; want %+v", tt.folder, tt.data, got, err, tt.want)
		}
	}
	for _, bad := range []struct{ folder, data string }{
		{LiteralACLChangesPath, "foo"},
		{LiteralACLChangesPath, "Any:foo"},
		{LiteralACLChangesPath, "Table:foo"},
		{ExtendedACLChangesPath, `{"version":1,"resourceType":"Topic","name":"x","patternType":"LITERAL"}`},
		{ExtendedACLChangesPath, `{"version":1,"resourceType":"Topic","name":"x","patternType":"MATCH"}`},
		{ExtendedACLChangesPath, `{"version":2,"resourceType":"Topic","name":"x","patternType":"PREFIXED"}`},
		{ExtendedACLChangesPath, `{"resourceType":"Topic","name":"x","patternType":"PREFIXED"}`},
		{ExtendedACLChangesPath, `Topic:x`},
		{ConfigChangesPath, kafkaLiteralChange},
	} {
		if got, err := UnmarshalACLChange(bad.folder, []byte(bad.data)); err == nil {
			t.Errorf("UnmarshalACLChange(%s, %s) = %+v, want an error", bad.folder, bad.data, got)
		}
	}
	if _, err := MarshalACLChange(ACLResource{kmsg.ACLResourceTypeTopic, "x", kmsg.ACLResourcePatternTypeAny}); err == nil {
		t.Error("encoded a change of pattern type ANY")
	}
}
