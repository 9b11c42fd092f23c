package placement

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	valid := []string{"a", "orders", "a.b_c-D9", "...", "..a", "_", "-", strings.Repeat("x", 249)}
	for _, name := range valid {
		if err := ValidateTopicName(name); err != nil {
			t.Errorf("ValidateTopicName(%q) = %v", name, err)
		}
	}
	invalid := map[string]string{
		"":                       "empty",
		".":                      "reserved",
		"..":                     "reserved",
		strings.Repeat("x", 250): "250 characters",
		"a b":                    `' '`,
		"a/b":                    `'/'`,
		`a\b`:                    `'\\'`,
		"a:b":                    `':'`,
		"a*":                     `'*'`,
		"a+b":                    `'+'`,
		"café":                   "byte 3",
		"tab\t":                  `'\t'`,
	}
	for name, mention := range invalid {
		err := ValidateTopicName(name)
		if !errors.Is(err, ErrInvalidTopicName) {
			t.Errorf("ValidateTopicName(%q) = %v, want ErrInvalidTopicName", name, err)
			continue
		}
		if !strings.Contains(err.Error(), mention) {
			t.Errorf("ValidateTopicName(%q) = %q, want it to mention %s", name, err, mention)
		}
	}
}

func TestAssignReplicasKnownLayout(t *testing.T) {
	got, err := AssignReplicas([]int32{3, 1, 2, 2}, 4, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Start 0, shift 0: leaders go round the sorted brokers; after n partitions
	// the followers shift one further.
	want := [][]int32{{1, 2}, {2, 3}, {3, 1}, {1, 3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestAssignReplicasSpreadsEvenly(t *testing.T) {
	brokers := []int32{10, 11, 12, 13, 14}
	for seed := range uint64(20) {
		for _, rf := range []int{1, 2, 3, 5} {
			partitions := 3 * len(brokers)
			got, err := AssignReplicas(brokers, partitions, rf, rand.New(rand.NewPCG(seed, seed)))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != partitions {
				t.Fatalf("%d partitions, want %d", len(got), partitions)
			}
			leaders := make(map[int32]int)
			replicas := make(map[int32]int)
			for p, r := range got {
				if len(r) != rf {
					t.Fatalf("partition %d has %d replicas, want %d", p, len(r), rf)
				}
				for i, b := range r {
					if !slices.Contains(brokers, b) {
						t.Fatalf("partition %d on unknown broker %d", p, b)
					}
					if slices.Contains(r[:i], b) {
						t.Fatalf("partition %d lists broker %d twice: %v", p, b, r)
					}
					replicas[b]++
				}
				leaders[r[0]]++
			}
			for _, b := range brokers {
				if leaders[b] != 3 {
					t.Errorf("seed %d rf %d: broker %d leads %d partitions, want 3", seed, rf, b, leaders[b])
				}
				if replicas[b] != 3*rf {
					t.Errorf("seed %d rf %d: broker %d holds %d replicas, want %d", seed, rf, b, replicas[b], 3*rf)
				}
			}
		}
	}
}

func TestAssignReplicasFollowersDiffer(t *testing.T) {
	// With shifting, one broker's partitions do not all share the same follower.
	got, err := AssignReplicas([]int32{1, 2, 3, 4}, 8, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	followersOf1 := make(map[int32]bool)
	for _, r := range got {
		if r[0] == 1 {
			followersOf1[r[1]] = true
		}
	}
	if len(followersOf1) < 2 {
		t.Errorf("broker 1's partitions all follow on %v: %v", followersOf1, got)
	}
}

func TestAssignReplicasDeterministic(t *testing.T) {
	brokers := []int32{1, 2, 3, 4, 5, 6}
	a, err := AssignReplicas(brokers, 20, 3, rand.New(rand.NewPCG(7, 9)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := AssignReplicas(brokers, 20, 3, rand.New(rand.NewPCG(7, 9)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different assignments:\n%v\n%v", a, b)
	}
	starts := make(map[int32]bool)
	for seed := range uint64(30) {
		c, err := AssignReplicas(brokers, 1, 1, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		starts[c[0][0]] = true
	}
	if len(starts) < 2 {
		t.Errorf("30 seeds all start on broker %v", starts)
	}
}

func TestAssignReplicasBounds(t *testing.T) {
	tests := []struct {
		brokers    []int32
		partitions int
		rf         int
		want       error
	}{
		{[]int32{1, 2, 3}, 1, 4, ErrInvalidReplicationFactor},
		{[]int32{1, 1, 1}, 1, 2, ErrInvalidReplicationFactor},
		{[]int32{1, 2, 3}, 1, 0, ErrInvalidReplicationFactor},
		{[]int32{1, 2, 3}, 1, -1, ErrInvalidReplicationFactor},
		{nil, 1, 1, ErrInvalidReplicationFactor},
		{[]int32{1}, 0, 1, ErrInvalidPartitions},
		{[]int32{1}, -3, 1, ErrInvalidPartitions},
	}
	for _, tt := range tests {
		if _, err := AssignReplicas(tt.brokers, tt.partitions, tt.rf, nil); !errors.Is(err, tt.want) {
			t.Errorf("AssignReplicas(%v, %d, %d) = %v, want %v", tt.brokers, tt.partitions, tt.rf, err, tt.want)
		}
	}
	if got, err := AssignReplicas([]int32{4, 5, 6}, 2, 3, nil); err != nil || len(got[0]) != 3 {
		t.Errorf("RF = number of brokers: %v, %v", got, err)
	}
	if got, err := AssignReplicas([]int32{4}, 3, 1, nil); err != nil || !reflect.DeepEqual(got, [][]int32{{4}, {4}, {4}}) {
		t.Errorf("one broker: %v, %v", got, err)
	}
}

func TestValidateAssignment(t *testing.T) {
	if err := ValidateAssignment([][]int32{{1, 2}, {2, 3}}); err != nil {
		t.Errorf("valid assignment: %v", err)
	}
	for _, bad := range [][][]int32{
		nil,
		{{}},
		{{1, 2}, {3}},
		{{1, 1}},
		{{1, -1}},
	} {
		if err := ValidateAssignment(bad); !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Errorf("ValidateAssignment(%v) = %v", bad, err)
		}
	}
}
