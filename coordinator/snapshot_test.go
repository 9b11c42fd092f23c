package coordinator

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/zkpaths"
)

// TestIncrementalSnapshotEqualsFullBuild applies random changes to a view,
// the way its refreshes and the controller's writes do, and checks after each
// batch that the snapshot built from the previous one equals one built from
// scratch, and that the topics nothing touched are shared with the previous
// snapshot rather than copied.
func TestIncrementalSnapshotEqualsFullBuild(t *testing.T) {
	for seed := range uint64(50) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			checkIncrementalSnapshots(t, rand.New(rand.NewPCG(seed, 14)))
		})
	}
}

func checkIncrementalSnapshots(t *testing.T, rng *rand.Rand) {
	log := logrus.New()
	log.Level = logrus.PanicLevel
	v := newView()
	names := []string{"a", "b", "c", "d", "e"}
	czxid := int64(1)
	version := map[string]int32{}
	prev := v.snapshot("cluster")

	// writeTopic gives a topic a new random assignment; new makes it a new
	// topic of the same name (another czxid).
	writeTopic := func(name string, recreate bool) {
		replicas := make([][]int32, 1+rng.IntN(6))
		for p := range replicas {
			replicas[p] = []int32{int32(1 + rng.IntN(4)), int32(5 + rng.IntN(3))}
		}
		assignment := zkpaths.NewTopicAssignment(zkpaths.UUID{byte(rng.IntN(200))}, replicas)
		if rng.IntN(4) == 0 {
			assignment.AddingReplicas = map[int32][]int32{0: {replicas[0][1]}}
		}
		data, err := assignment.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if rng.IntN(10) == 0 {
			data = []byte("not json")
		}
		if recreate || v.topics[name] == nil {
			czxid++
			version[name] = 0
		} else {
			version[name]++
		}
		v.applyTopic(name, znodeRead{data: data, stat: &zk.Stat{Czxid: czxid, Version: version[name]}, exists: true}, log)
	}
	// Each change returns the topics it may have changed.
	changes := []func() []string{
		func() []string { name := names[rng.IntN(len(names))]; writeTopic(name, false); return []string{name} },
		func() []string { name := names[rng.IntN(len(names))]; writeTopic(name, true); return []string{name} },
		func() []string {
			name := names[rng.IntN(len(names))]
			v.applyTopic(name, znodeRead{}, log)
			return []string{name}
		},
		func() []string {
			// A partition state: created, changed or gone.
			name := names[rng.IntN(len(names))]
			topic := v.topics[name]
			if topic == nil {
				return nil
			}
			tp := zkpaths.TopicPartition{Topic: name, Partition: int32(rng.IntN(7))}
			next := stateEntry{}
			if rng.IntN(5) > 0 {
				next = stateEntry{exists: true, version: int32(rng.IntN(100)), state: zkpaths.PartitionState{
					ControllerEpoch: int32(rng.IntN(3)),
					Leader:          int32(rng.IntN(5) - 1),
					LeaderEpoch:     int32(rng.IntN(9)),
					ISR:             []int32{int32(1 + rng.IntN(4))},
					State:           []zkpaths.PartitionStatus{zkpaths.StateNew, zkpaths.StateOnline, zkpaths.StateOffline}[rng.IntN(3)],
				}}
			}
			v.setState(tp, next)
			return []string{name}
		},
		func() []string {
			next := map[string]bool{}
			for _, name := range names {
				if rng.IntN(3) == 0 {
					next[name] = true
				}
			}
			v.setDeleting(next)
			return names
		},
		func() []string {
			// Only the pending deletions change.
			name := names[rng.IntN(len(names))]
			v.confirmed[name] = map[int32]bool{int32(1 + rng.IntN(4)): true}
			v.changed = true
			return nil
		},
		func() []string {
			name := names[rng.IntN(len(names))]
			v.setTopicConfigs(name, map[string]string{"retention.ms": fmt.Sprint(rng.IntN(3))})
			return []string{name}
		},
		func() []string {
			v.brokers[int32(1+rng.IntN(4))] = Broker{ID: 1, Epoch: rng.Int64N(5)}
			v.changed = true
			return nil
		},
	}
	for range 60 {
		touched := map[string]bool{}
		for range 1 + rng.IntN(4) {
			for _, name := range changes[rng.IntN(len(changes))]() {
				touched[name] = true
			}
		}
		want := v.buildSnapshot("cluster", nil)
		got := v.snapshot("cluster")
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("incremental snapshot differs from a full build:\n got %s\nwant %s", describeTopics(got), describeTopics(want))
		}
		for name, topic := range got.Topics {
			if !touched[name] && prev.Topics[name] != topic {
				t.Fatalf("topic %s was rebuilt although nothing changed it", name)
			}
		}
		prev = got
	}
}

func describeTopics(snap *Snapshot) string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(snap.Topics)) {
		out = append(out, fmt.Sprintf("%s %+v", name, *snap.Topics[name]))
	}
	return fmt.Sprint(out, " pending ", snap.PendingDeletion)
}

// TestFetchAll: results come back in the order of the keys with at most
// readWindow calls in flight, and once a call fails the calls not yet started
// are skipped with errNotRead while firstError reports the real failure.
func TestFetchAll(t *testing.T) {
	keys := make([]int, 5000)
	for i := range keys {
		keys[i] = i
	}
	var inFlight, most atomic.Int64
	results, errs := fetchAll(keys, func(k int) (int, error) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		defer inFlight.Add(-1)
		return 2 * k, nil
	})
	for i := range keys {
		if results[i] != 2*i || errs[i] != nil {
			t.Fatalf("key %d: %d, %v", i, results[i], errs[i])
		}
	}
	if m := most.Load(); m > readWindow {
		t.Errorf("%d calls in flight, more than %d", m, readWindow)
	}

	failure := errors.New("connection lost")
	_, errs = fetchAll(keys, func(k int) (int, error) {
		if k == 100 {
			return 0, failure
		}
		return k, nil
	})
	if err := firstError(errs); !errors.Is(err, failure) {
		t.Errorf("firstError = %v, want the failure", err)
	}
	if !errors.Is(errs[len(errs)-1], errNotRead) {
		t.Errorf("the last key was read after a failure: %v", errs[len(errs)-1])
	}
	if _, errs := fetchAll([]int{}, func(int) (int, error) { return 0, failure }); firstError(errs) != nil {
		t.Error("no keys, yet an error")
	}
}

// TestStateBatches: a topic's writes are split into multis of at most
// maxOpsPerMulti partitions; the partitions znode is created first, each
// partition's parent before its state znode and in the same multi, a new
// partition's Online write right after its creation, and every write's
// result is found where its last op is.
func TestStateBatches(t *testing.T) {
	s := &Session{zk: &zkClient{}, view: newView()}
	const partitions = 2*maxOpsPerMulti + 7
	entry := &topicEntry{states: make(map[int32]stateEntry)}
	var writes []plannedWrite
	parents := make(map[int32]any)
	for p := range int32(partitions) {
		w := plannedWrite{partition: p, plan: partitionPlan{From: zkpaths.StateNonExistent, To: zkpaths.StateNew,
			Next: zkpaths.PartitionState{Leader: -1, LeaderEpoch: -1, ISR: []int32{}, State: zkpaths.StateNew}}}
		switch p % 3 {
		case 0:
			// An existing partition changing leader.
			entry.states[p] = stateEntry{exists: true, version: 4 + p}
			w.plan = partitionPlan{From: zkpaths.StateOnline, To: zkpaths.StateOnline,
				Next: zkpaths.PartitionState{Leader: 2, LeaderEpoch: 3, ISR: []int32{2}, State: zkpaths.StateOnline}}
		case 1:
			// A new partition brought online in the same multi.
			w.then = &partitionPlan{From: zkpaths.StateNew, To: zkpaths.StateOnline,
				Next: zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}, State: zkpaths.StateOnline}}
			parents[p] = s.zk.createOp(zkpaths.PartitionPath("t", p), nil, zk.FlagPersistent)
		default:
			// A new partition that stays New (its parent exists already).
		}
		writes = append(writes, w)
	}
	partitionsOp := s.zk.createOp(zkpaths.TopicPartitionsPath("t"), nil, zk.FlagPersistent)
	batches, err := s.stateBatches("t", entry, writes, partitionsOp, parents)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 3 || len(batches[0].writes) != maxOpsPerMulti || len(batches[2].writes) != 7 {
		t.Fatalf("%d batches", len(batches))
	}
	seen := 0
	for i, b := range batches {
		if (i == 0) != (b.ops[0] == partitionsOp) || (i == 0) != b.createsPartitions {
			t.Errorf("batch %d: the partitions znode's creation is misplaced", i)
		}
		created := map[string]bool{}
		for j, w := range b.writes {
			if w.partition != int32(seen) {
				t.Fatalf("batch %d holds partition %d at %d, want %d", i, w.partition, j, seen)
			}
			seen++
			for _, op := range b.ops[:b.last[j]] {
				if c, ok := op.(*zk.CreateRequest); ok {
					created[c.Path] = true
				}
			}
			statePath := zkpaths.PartitionStatePath("t", w.partition)
			last := b.ops[b.last[j]]
			switch w.partition % 3 {
			case 0:
				set, ok := last.(*zk.SetDataRequest)
				if !ok || set.Path != statePath || set.Version != 4+w.partition {
					t.Errorf("partition %d: last op %+v, want a set at version %d", w.partition, last, 4+w.partition)
				}
			case 1:
				set, ok := last.(*zk.SetDataRequest)
				create, isCreate := b.ops[b.last[j]-1].(*zk.CreateRequest)
				if !ok || set.Path != statePath || set.Version != 0 || !isCreate || create.Path != statePath {
					t.Errorf("partition %d: ops %+v %+v, want its creation then a set at version 0", w.partition, b.ops[b.last[j]-1], last)
				}
				if !created[zkpaths.PartitionPath("t", w.partition)] {
					t.Errorf("partition %d: its parent is not created before it in the batch", w.partition)
				}
			default:
				create, ok := last.(*zk.CreateRequest)
				if !ok || create.Path != statePath {
					t.Errorf("partition %d: last op %+v, want its creation", w.partition, last)
				}
			}
		}
	}
	if seen != partitions {
		t.Errorf("%d of %d partitions in the batches", seen, partitions)
	}
}
