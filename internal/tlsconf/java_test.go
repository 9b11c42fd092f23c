package tlsconf

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kzoo/kzoo/internal/tlsconf/tlstest"
)

// runJava runs a one-file Java program (Java 11+ runs sources directly),
// skipping the test when no JDK can. These tests pin SubjectName and
// PrincipalMapper to Java's and Kafka's own code where they are at hand;
// the table tests hold the same expectations without them.
func runJava(t *testing.T, classpath, source string, args ...string) []string {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("java is not on PATH")
	}
	// A JRE without the compiler (Debian's default-jre-headless) cannot
	// run source files; javac on PATH says a JDK is there.
	if _, err := exec.LookPath("javac"); err != nil {
		t.Skip("javac is not on PATH: no JDK to run Java source files")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "Check.java")
	if err := os.WriteFile(file, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	cmdArgs := []string{}
	if classpath != "" {
		cmdArgs = append(cmdArgs, "-cp", classpath)
	}
	cmd := exec.Command(java, append(append(cmdArgs, file), args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "jdk.compiler") || strings.Contains(string(out), "Could not find or load main class") {
			t.Skipf("this java cannot run source files: %s", out)
		}
		t.Fatalf("java: %v\n%s", err, out)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
}

// TestSubjectNameMatchesJava prints every subjectCases certificate's
// subject with Java's X500Principal and compares it with SubjectName.
func TestSubjectNameMatchesJava(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	var files []string
	var want []string
	for i, tc := range subjectCases {
		cert := certWithSubject(t, ca, tc.rdns)
		f := filepath.Join(dir, strings.Repeat("c", i+1)+".der")
		if err := os.WriteFile(f, cert.Raw, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		want = append(want, SubjectName(cert))
	}
	const source = `import java.io.FileInputStream;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
public class Check {
  public static void main(String[] args) throws Exception {
    CertificateFactory f = CertificateFactory.getInstance("X.509");
    for (String p : args) {
      try (FileInputStream in = new FileInputStream(p)) {
        System.out.println(((X509Certificate) f.generateCertificate(in)).getSubjectX500Principal().getName());
      }
    }
  }
}`
	got := runJava(t, "", source, files...)
	if len(got) != len(want) {
		t.Fatalf("java printed %d names, want %d: %q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: Java prints %s, SubjectName %s", subjectCases[i].name, got[i], want[i])
		}
	}
}

// TestPrincipalMappingMatchesKafka runs Kafka's own SslPrincipalMapper
// (from KZOO_TEST_KAFKA_HOME's kafka-clients jar) on rules and names and
// compares with PrincipalMapper.
func TestPrincipalMappingMatchesKafka(t *testing.T) {
	home := os.Getenv("KZOO_TEST_KAFKA_HOME")
	if home == "" {
		t.Skip("KZOO_TEST_KAFKA_HOME is not set")
	}
	jars, _ := filepath.Glob(filepath.Join(home, "libs", "kafka-clients-*.jar"))
	slf4j, _ := filepath.Glob(filepath.Join(home, "libs", "slf4j-api-*.jar"))
	if len(jars) == 0 || len(slf4j) == 0 {
		t.Skipf("no kafka-clients or slf4j-api jar in %s/libs", home)
	}
	cases := [][2]string{
		{`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/`, "CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"},
		{`RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L`, "CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"},
		{`RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT`, "OU=JavaSoft,CN=Duke.2,O=Sun"},
		{`RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT`, `CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz`},
		{`RULE:.*/x/`, "CN=abc"},
		{`RULE:^.*/x/`, "CN=abc"},
		{`RULE:CN=(.*?)/$1/`, "CN=abc"},
		{`RULE:CN=([a-z]*)/<$1>/`, "CN=abc"},
		{`RULE:(a*)/[$1]/`, "aaa"},
		{`RULE:^CN=(.*?),.*$/$12/`, "CN=bob,O=x"},
		{`RULE:^CN=(.*?),.*$/$1-$2/`, "CN=bob,O=x"},
		{`RULE:^CN=(.*?),.*$/$0!/`, "CN=bob,O=x"},
		{`RULE:^CN=(.*?),.*$/user\/$1/`, "CN=bob,O=x"},
		{`RULE:^CN=(.*?),.*$/$1\$/L`, "CN=BOB,O=x"},
		{`RULE:^CN=(.*?),.*$/$1/U,RULE:^CN=(.*?),.*$/$1/L`, "CN=Mixed,O=x"},
		{`RULE:^CN=admin,.*$/root/, RULE:^CN=(.*?),.*$/$1/`, "CN=alice,O=x"},
		{`  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  `, "abc"},
		{`RULE:,RULE:,/,RULE:,\//U,DEFAULT`, ",RULE:,"},
	}
	var args []string
	for _, c := range cases {
		args = append(args, c[0], c[1])
	}
	const source = `import org.apache.kafka.common.security.ssl.SslPrincipalMapper;
public class Check {
  public static void main(String[] a) throws Exception {
    for (int i = 0; i + 1 < a.length; i += 2) {
      System.out.println(SslPrincipalMapper.fromRules(a[i]).getName(a[i + 1]));
    }
  }
}`
	got := runJava(t, jars[0]+string(os.PathListSeparator)+slf4j[0], source, args...)
	if len(got) != len(cases) {
		t.Fatalf("java printed %d names, want %d: %q", len(got), len(cases), got)
	}
	for i, c := range cases {
		m, err := ParsePrincipalMappingRules(c[0])
		if err != nil {
			t.Errorf("rules %q: %v", c[0], err)
			continue
		}
		name, err := m.Map(c[1])
		if err != nil || name != got[i] {
			t.Errorf("rules %q on %q: Kafka gives %q, Map %q, %v", c[0], c[1], got[i], name, err)
		}
	}
}
