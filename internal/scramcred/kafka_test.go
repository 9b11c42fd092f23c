package scramcred

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kafkaCheck is run by Java against Kafka 2.4.1's own classes: it parses a
// credential with ScramCredentialUtils, checks it against a password with
// ScramFormatter, and prints a credential of its own for the password.
const kafkaCheck = `
import org.apache.kafka.common.security.scram.ScramCredential;
import org.apache.kafka.common.security.scram.internals.*;
import java.security.MessageDigest;

public class KzooScramCheck {
    public static void main(String[] args) throws Exception {
        ScramMechanism mechanism = ScramMechanism.forMechanismName(args[0]);
        String password = args[1];
        ScramFormatter f = new ScramFormatter(mechanism);
        ScramCredential c = ScramCredentialUtils.credentialFromString(args[2]);
        byte[] salted = f.saltedPassword(password, c.salt(), c.iterations());
        boolean ok = MessageDigest.isEqual(f.storedKey(f.clientKey(salted)), c.storedKey())
            && MessageDigest.isEqual(f.serverKey(salted), c.serverKey());
        System.out.println(ok ? "accepted" : "rejected");
        System.out.println(ScramCredentialUtils.credentialToString(f.generateCredential(password, 4096)));
    }
}
`

// kafkaHome is Kafka 2.4.1 from $KZOO_TEST_KAFKA_HOME or shared/kafka-2.4.1
// beside the repository; the test is skipped without it or java.
func kafkaHome(t *testing.T) string {
	t.Helper()
	home := os.Getenv("KZOO_TEST_KAFKA_HOME")
	if home == "" {
		dir, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
		}
		home = filepath.Join(filepath.Dir(dir), "shared", "kafka-2.4.1")
	}
	if _, err := os.Stat(filepath.Join(home, "libs", "kafka-clients-2.4.1.jar")); err != nil {
		t.Skipf("Kafka 2.4.1 not found at %s (set KZOO_TEST_KAFKA_HOME): %v", home, err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java not found")
	}
	return home
}

// TestKafkaAgrees: Kafka's own parser and formatter accept a credential kzoo
// made, and kzoo accepts one Kafka made, for both mechanisms.
func TestKafkaAgrees(t *testing.T) {
	home := kafkaHome(t)
	src := filepath.Join(t.TempDir(), "KzooScramCheck.java")
	if err := os.WriteFile(src, []byte(kafkaCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	const password = "pä$$, w=rd"
	for _, mech := range Mechanisms {
		ours, err := FromPassword(mech, password, 8192)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		out, err := exec.CommandContext(ctx, "java", "-Xmx128m", "-cp", filepath.Join(home, "libs", "kafka-clients-2.4.1.jar"), src, mech, password, ours.String()).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("java: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 {
			t.Fatalf("java printed %q", out)
		}
		if lines[0] != "accepted" {
			t.Errorf("%s: Kafka %s kzoo's credential", mech, lines[0])
		}
		theirs, err := Parse(lines[1])
		if err != nil {
			t.Fatalf("%s: Parse(Kafka's %s): %v", mech, lines[1], err)
		}
		if theirs.String() != lines[1] {
			t.Errorf("%s: Kafka's credential prints back as %s", mech, theirs)
		}
		salted, err := SaltPassword(mech, password, theirs.Salt, theirs.Iterations)
		if err != nil {
			t.Fatal(err)
		}
		again, err := FromSaltedPassword(mech, theirs.Salt, salted, theirs.Iterations)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.StoredKey, theirs.StoredKey) || !bytes.Equal(again.ServerKey, theirs.ServerKey) {
			t.Errorf("%s: kzoo derives other keys than Kafka from the same password and salt", mech)
		}
	}
}
