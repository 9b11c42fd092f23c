package scramzk

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/zkpaths"
)

// kafkaWritten is /config/users/al%2Ci%3Dce as Kafka 2.4.1's kafka-configs.sh
// --zookeeper --add-config 'SCRAM-SHA-512=[password=x],SCRAM-SHA-256=[iterations=8192,password=pencil],producer_byte_rate=1024'
// wrote it.
const kafkaWritten = `{"version":1,"config":{"SCRAM-SHA-512":"salt=cjQzZTh1cDA4ejhhbjBuMm45Njl5Y3U2dw==,stored_key=wF0WacVqLPYvFCbgWtc78aUVt84A8htmqlqAewUqaXVpg6aseWfGM34gWsRTSLwreaJRJezDhmpeqfIL1FYnfA==,server_key=6bI6nU45qgOEmdic7Jz8qWQVjS7EHgEKCVx7LySJV+Lg8KNfsCQWbgCsp9mNfJ1mGF+OilCtkO3pnVFZT5CMFQ==,iterations=4096","SCRAM-SHA-256":"salt=enVzMGM1Znpwd202bnJ5ZTJwOTl4c3FkNw==,stored_key=vKivJ+SHDV0aiqz9PDScB7VNgznSDmzCCc+shc0KFhk=,server_key=b80pKFBbs6KqGT9nEP+5jXF2wV4k7Vbp4zL9uS2PvVA=,iterations=8192","producer_byte_rate":"1024"}}`

func TestSplitKafkaZnode(t *testing.T) {
	entity, err := zkpaths.UnmarshalConfigEntity([]byte(kafkaWritten))
	if err != nil {
		t.Fatal(err)
	}
	others, creds, invalid := Split(entity.Config)
	if !maps.Equal(others, map[string]string{"producer_byte_rate": "1024"}) {
		t.Errorf("others = %v", others)
	}
	if len(invalid) != 0 || len(creds) != 2 || creds[scramcred.SHA256].Iterations != 8192 || creds[scramcred.SHA512].Iterations != 4096 {
		t.Errorf("credentials %v, invalid %v", creds, invalid)
	}
	if UserPath("al,i=ce") != "/config/users/al%2Ci%3Dce" {
		t.Errorf("UserPath = %s", UserPath("al,i=ce"))
	}
	n, err := Notification("al,i=ce")
	if err != nil || string(n) != `{"version":2,"entity_path":"users/al%2Ci%3Dce"}` {
		t.Errorf("Notification = %s, %v", n, err)
	}
}

func TestSplitInvalid(t *testing.T) {
	others, creds, invalid := Split(map[string]string{"SCRAM-SHA-256": "salt=x", "SCRAM-SHA-1": "salt=x", "consumer_byte_rate": "5"})
	// SCRAM-SHA-1 is not a mechanism Kafka has: it stays an ordinary key.
	if !maps.Equal(others, map[string]string{"SCRAM-SHA-1": "salt=x", "consumer_byte_rate": "5"}) || len(creds) != 0 {
		t.Errorf("others %v, credentials %v", others, creds)
	}
	if !slices.Equal(slices.Collect(maps.Keys(invalid)), []string{"SCRAM-SHA-256"}) {
		t.Errorf("invalid = %v", invalid)
	}
}

func TestApply(t *testing.T) {
	c, err := scramcred.FromPassword(scramcred.SHA512, "pw", 4096)
	if err != nil {
		t.Fatal(err)
	}
	// On Kafka's znode: the quota and the other credential stay.
	out, err := Apply([]byte(kafkaWritten), []Change{{Mechanism: scramcred.SHA512, Credential: &c}, {Mechanism: scramcred.SHA256}})
	if err != nil {
		t.Fatal(err)
	}
	entity, err := zkpaths.UnmarshalConfigEntity(out)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(entity.Config, map[string]string{"producer_byte_rate": "1024", scramcred.SHA512: c.String()}) {
		t.Errorf("Apply = %s", out)
	}
	// On nothing (no znode, or one without data, as Kafka's parents).
	for _, data := range [][]byte{nil, {}} {
		out, err := Apply(data, []Change{{Mechanism: scramcred.SHA512, Credential: &c}})
		if err != nil || string(out) != `{"version":1,"config":{"SCRAM-SHA-512":"`+c.String()+`"}}` {
			t.Errorf("Apply(%q) = %s, %v", data, out, err)
		}
	}
	if _, err := Apply(nil, []Change{{Mechanism: scramcred.SHA512}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting from nothing: %v", err)
	}
	if _, err := Apply([]byte(`{"version":1,"config":{"producer_byte_rate":"1"}}`), []Change{{Mechanism: scramcred.SHA256}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a missing credential: %v", err)
	}
	if _, err := Apply(nil, []Change{{Mechanism: "producer_byte_rate", Credential: &c}}); !errors.Is(err, scramcred.ErrUnknownMechanism) {
		t.Errorf("a quota key as mechanism: %v", err)
	}
	if _, err := Apply([]byte("not json"), []Change{{Mechanism: scramcred.SHA512, Credential: &c}}); err == nil {
		t.Error("Apply overwrote data that is not a config")
	}
}

func TestValidateUser(t *testing.T) {
	for _, bad := range []string{"", "<default>"} {
		if err := ValidateUser(bad); !errors.Is(err, scramcred.ErrUnacceptableCredential) {
			t.Errorf("ValidateUser(%q) = %v", bad, err)
		}
	}
	for _, good := range []string{"alice", "User:CN=x,O=y", "a/b", "%3Cdefault%3E"} {
		if err := ValidateUser(good); err != nil {
			t.Errorf("ValidateUser(%q) = %v", good, err)
		}
	}
}
