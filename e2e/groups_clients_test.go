package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"
)

// Group timing shared by every client: short, so that joins, leaves and
// failures settle within seconds. The brokers' group.min.session.timeout.ms
// is lowered below memberSessionTimeout for it.
const (
	memberSessionTimeout   = 6 * time.Second
	memberHeartbeat        = 500 * time.Millisecond
	memberRebalanceTimeout = 20 * time.Second
	memberStopTimeout      = 30 * time.Second
)

// groupTarget is what every member of a scenario consumes.
type groupTarget struct {
	bootstrap []string
	group     string
	topic     string
	log       *groupLog
}

// startMember starts one member of a scenario's group under a name.
type startMember func(t *testing.T, name string) groupMember

// ---- franz-go ----

// franzMember is a franz-go group consumer that commits what it processed
// after every poll and blocks rebalances while it processes, so that a
// revocation never overlaps its processing.
type franzMember struct {
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	// pending holds, per partition, the last record processed and not yet
	// committed. A failed commit (the coordinator moving, a rebalance) is
	// tried again after the next poll, so that a partition's last records
	// are committed even when no record follows them. A revoked
	// partition's entry is dropped: its next owner processes the records
	// again (at least once), and a commit from here would come from a
	// member that no longer owns the partition. The poll loop and the
	// revocation callbacks share it.
	mu      sync.Mutex
	pending map[int32]*kgo.Record
}

// startFranzMember starts a franz-go member of g; opts add to or override
// the defaults (e.g. a balancer or an instance id).
func startFranzMember(t *testing.T, g groupTarget, name string, opts ...kgo.Opt) *franzMember {
	t.Helper()
	partitionsOf := func(m map[string][]int32) []int32 { return m[g.topic] }
	ctx, cancel := context.WithCancel(context.Background())
	m := &franzMember{name: name, cancel: cancel, done: make(chan struct{}), pending: map[int32]*kgo.Record{}}
	revoke := func(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
		m.forget(partitionsOf(revoked))
		g.log.revoke(name, partitionsOf(revoked))
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(g.bootstrap...),
		kgo.ClientID(name),
		kgo.ConsumerGroup(g.group),
		kgo.ConsumeTopics(g.topic),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(memberSessionTimeout),
		kgo.HeartbeatInterval(memberHeartbeat),
		kgo.RebalanceTimeout(memberRebalanceTimeout),
		kgo.FetchMaxWait(250 * time.Millisecond),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			g.log.assign(name, partitionsOf(m))
		}),
		kgo.OnPartitionsRevoked(revoke),
		kgo.OnPartitionsLost(revoke),
	}, opts...)...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	m.cl = cl
	go m.poll(ctx, t, g)
	t.Cleanup(func() { m.stop(t) })
	return m
}

// pollWait bounds a poll, so that a failed commit is tried again when no
// more records come.
const pollWait = time.Second

func (m *franzMember) poll(ctx context.Context, t *testing.T, g groupTarget) {
	defer close(m.done)
	for ctx.Err() == nil {
		// Once PollRecords returns, no rebalance runs (and no revocation
		// callback) until AllowRebalance: what is pending is still owned.
		pctx, cancel := context.WithTimeout(ctx, pollWait)
		fetches := m.cl.PollRecords(pctx, 1000)
		cancel()
		recs := fetches.Records()
		m.mu.Lock()
		for _, r := range recs {
			g.log.consume(m.name, position{r.Partition, r.Offset})
			m.pending[r.Partition] = r // a partition's records come in order
		}
		m.mu.Unlock()
		m.commitPending(ctx, t, g)
		m.cl.AllowRebalance()
	}
}

// commitPending commits the pending records; on success they are no
// longer pending and g's log learns the commits.
func (m *franzMember) commitPending(ctx context.Context, t *testing.T, g groupTarget) {
	m.mu.Lock()
	recs := slices.Collect(maps.Values(m.pending))
	m.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := m.cl.CommitRecords(cctx, recs...); err != nil {
		if ctx.Err() == nil {
			t.Logf("%s: commit of %d partitions failed, to be tried again: %v", m.name, len(recs), err)
		}
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		if m.pending[r.Partition] == r {
			delete(m.pending, r.Partition)
		}
		g.log.commit(r.Partition, r.Offset+1)
	}
}

// forget drops the pending records of partitions the member lost.
func (m *franzMember) forget(partitions []int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range partitions {
		delete(m.pending, p)
	}
}

// generation returns the member's current generation, or -1.
func (m *franzMember) generation() int32 {
	_, gen := m.cl.GroupMetadata()
	return gen
}

// stop closes the client: a dynamic member leaves the group, a static one
// (kgo.InstanceID) does not.
func (m *franzMember) stop(t *testing.T) {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		m.cl.CloseAllowingRebalance()
	})
}

func franzStarter(g groupTarget, opts ...kgo.Opt) startMember {
	return func(t *testing.T, name string) groupMember { return startFranzMember(t, g, name, opts...) }
}

// ---- kafka-go Reader ----

// readerMember is a kafka-go Reader with a GroupID: the client handles
// the group and tells its user nothing about assignments. It commits
// synchronously what it fetched, in small batches.
type readerMember struct {
	rd     *kafka.Reader
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func readerStarter(g groupTarget) startMember {
	return func(t *testing.T, name string) groupMember {
		rd := kafka.NewReader(kafka.ReaderConfig{
			Brokers:           g.bootstrap,
			GroupID:           g.group,
			Topic:             g.topic,
			MinBytes:          1,
			MaxBytes:          1 << 20,
			MaxWait:           250 * time.Millisecond,
			HeartbeatInterval: memberHeartbeat,
			SessionTimeout:    memberSessionTimeout,
			RebalanceTimeout:  memberRebalanceTimeout,
			JoinGroupBackoff:  500 * time.Millisecond,
			StartOffset:       kafka.FirstOffset,
			Dialer:            &kafka.Dialer{ClientID: name, Timeout: 10 * time.Second},
		})
		ctx, cancel := context.WithCancel(context.Background())
		m := &readerMember{rd: rd, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(m.done)
			var batch []kafka.Message
			for ctx.Err() == nil {
				fctx, fcancel := context.WithTimeout(ctx, 300*time.Millisecond)
				msg, err := rd.FetchMessage(fctx)
				fcancel()
				if err == nil {
					g.log.consume(name, position{int32(msg.Partition), msg.Offset})
					batch = append(batch, msg)
				}
				if len(batch) > 0 && (err != nil || len(batch) >= 50) {
					cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
					if err := rd.CommitMessages(cctx, batch...); err != nil {
						// The records go to the partition's next owner,
						// or to this member again in the next generation.
						t.Logf("%s: commit of %d records failed: %v", name, len(batch), err)
					} else {
						for _, msg := range batch {
							g.log.commit(int32(msg.Partition), msg.Offset+1)
						}
					}
					ccancel()
					batch = batch[:0]
				}
			}
		}()
		t.Cleanup(func() { m.stop(t) })
		return m
	}
}

func (m *readerMember) stop(t *testing.T) {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		// Close leaves the group.
		if err := m.rd.Close(); err != nil {
			t.Logf("kafka-go reader close: %v", err)
		}
	})
}

// ---- kafka-go ConsumerGroup ----

// consumerGroupMember drives kafka-go's ConsumerGroup by hand: each
// generation's assignment is read with one partition Reader per assigned
// partition, and committed through the generation, including on the way
// out of a generation.
type consumerGroupMember struct {
	cg   *kafka.ConsumerGroup
	done chan struct{}
	once sync.Once
}

func consumerGroupStarter(g groupTarget) startMember {
	return func(t *testing.T, name string) groupMember {
		cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
			ID:                g.group,
			Brokers:           g.bootstrap,
			Topics:            []string{g.topic},
			Dialer:            &kafka.Dialer{ClientID: name, Timeout: 10 * time.Second},
			HeartbeatInterval: memberHeartbeat,
			SessionTimeout:    memberSessionTimeout,
			RebalanceTimeout:  memberRebalanceTimeout,
			JoinGroupBackoff:  500 * time.Millisecond,
			StartOffset:       kafka.FirstOffset,
		})
		if err != nil {
			t.Fatal(err)
		}
		m := &consumerGroupMember{cg: cg, done: make(chan struct{})}
		go func() {
			defer close(m.done)
			for {
				gen, err := cg.Next(context.Background())
				if errors.Is(err, kafka.ErrGroupClosed) {
					return
				}
				if err != nil {
					continue // the group retries joining by itself
				}
				runGeneration(g, name, gen)
			}
		}()
		t.Cleanup(func() { m.stop(t) })
		return m
	}
}

// runGeneration consumes gen's assignment until the generation ends; the
// revocation is recorded only once every partition reader has stopped, and
// kafka-go does not rejoin before that.
func runGeneration(g groupTarget, name string, gen *kafka.Generation) {
	assignments := gen.Assignments[g.topic]
	var owned []int32
	for _, a := range assignments {
		owned = append(owned, int32(a.ID))
	}
	g.log.assign(name, owned)
	gen.Start(func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, a := range assignments {
			wg.Go(func() { consumeAssigned(ctx, g, name, gen, a) })
		}
		// kafka-go ends the generation as soon as one function started
		// with Start returns: a member without partitions must wait too.
		<-ctx.Done()
		wg.Wait()
		g.log.revoke(name, owned)
	})
}

func consumeAssigned(ctx context.Context, g groupTarget, name string, gen *kafka.Generation, a kafka.PartitionAssignment) {
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   g.bootstrap,
		Topic:     g.topic,
		Partition: a.ID,
		MinBytes:  1,
		MaxBytes:  1 << 20,
		MaxWait:   250 * time.Millisecond,
	})
	defer rd.Close()
	if err := rd.SetOffset(a.Offset); err != nil {
		return
	}
	var pending, committed int64 = -1, -1
	commit := func() {
		if pending <= committed {
			return
		}
		if gen.CommitOffsets(map[string]map[int]int64{g.topic: {a.ID: pending}}) == nil {
			g.log.commit(int32(a.ID), pending)
			committed = pending
		}
	}
	// Commit what was processed as the generation ends: Kafka accepts
	// commits of the ending generation while the group rebalances.
	defer commit()
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		msg, err := rd.ReadMessage(fctx)
		cancel()
		if err == nil {
			g.log.consume(name, position{int32(msg.Partition), msg.Offset})
			pending = msg.Offset + 1
		}
		if err != nil || pending-committed >= 50 {
			commit()
		}
	}
}

func (m *consumerGroupMember) stop(t *testing.T) {
	m.once.Do(func() {
		// Close ends the generation and leaves the group.
		if err := m.cg.Close(); err != nil {
			t.Logf("kafka-go consumer group close: %v", err)
		}
		select {
		case <-m.done:
		case <-time.After(memberStopTimeout):
			t.Errorf("kafka-go consumer group did not stop within %v", memberStopTimeout)
		}
	})
}

// ---- sarama ----

// saramaMember is a sarama ConsumerGroup with auto-commit of marked
// messages. Setup and Cleanup bracket each session's claims, and sarama
// runs Cleanup only after every ConsumeClaim has returned.
type saramaMember struct {
	group  sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

type saramaHandler struct {
	g    groupTarget
	name string
}

func (h saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.g.log.assign(h.name, s.Claims()[h.g.topic])
	return nil
}

func (h saramaHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	s.Commit()
	h.g.log.revoke(h.name, s.Claims()[h.g.topic])
	return nil
}

func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.g.log.consume(h.name, position{msg.Partition, msg.Offset})
			s.MarkMessage(msg, "")
		case <-s.Context().Done():
			return nil
		}
	}
}

func saramaStarter(g groupTarget) startMember {
	return func(t *testing.T, name string) groupMember {
		cfg := sarama.NewConfig()
		cfg.ClientID = name
		cfg.Version = sarama.V2_8_0_0
		cfg.Consumer.Return.Errors = true
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Offsets.AutoCommit.Enable = true
		cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
		cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
		cfg.Consumer.Group.Session.Timeout = memberSessionTimeout
		cfg.Consumer.Group.Heartbeat.Interval = memberHeartbeat
		cfg.Consumer.Group.Rebalance.Timeout = memberRebalanceTimeout
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
		group, err := sarama.NewConsumerGroup(g.bootstrap, g.group, cfg)
		if err != nil {
			t.Fatalf("sarama: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &saramaMember{group: group, cancel: cancel, done: make(chan struct{})}
		var errs sync.WaitGroup
		errs.Go(func() {
			// Errors must be drained; they are only symptoms (the
			// assertions are on records and offsets), so they are not kept.
			for range group.Errors() {
			}
		})
		go func() {
			defer close(m.done)
			defer errs.Wait()
			defer group.Close()
			for ctx.Err() == nil {
				// Consume returns at the end of each session.
				if err := group.Consume(ctx, []string{g.topic}, saramaHandler{g, name}); errors.Is(err, sarama.ErrClosedConsumerGroup) {
					return
				}
			}
		}()
		t.Cleanup(func() { m.stop(t) })
		return m
	}
}

func (m *saramaMember) stop(t *testing.T) {
	m.once.Do(func() {
		m.cancel()
		select {
		case <-m.done:
		case <-time.After(memberStopTimeout):
			t.Errorf("sarama member did not stop within %v", memberStopTimeout)
		}
	})
}

// ---- kcat ----

// kcatMember is a `kcat -G` process (librdkafka's balanced consumer with
// auto-commit). It prints each record's partition and offset, and its
// rebalance callbacks' assignments and revocations, in order, on one pipe;
// it leaves the group when it gets SIGTERM.
//
// On SIGTERM kcat drops, unprinted, the one record it may be holding, whose
// offset librdkafka has already stored and then commits as it closes
// (kcat's consume_cb returns early once it is told to stop): so a stopped
// kcat may lose one record, after the last one it printed.
type kcatMember struct {
	cmd    *exec.Cmd
	done   chan struct{}
	output *bytes.Buffer // everything but records, for failure reports
	once   sync.Once
	pipe   *kcatPipe
}

// kcatPipe is the read end of one kcat's output with counts of what was
// read from it and what was handled, so that another member's reader can
// wait until everything this kcat has written so far is handled.
//
// Each member's output is read by its own goroutine, so the order in
// which two members' lines are handled need not be the order in which the
// processes wrote them. An eager rebalance orders them: a member prints
// its revocation before it rejoins, and no member is assigned anything
// until every member rejoined (or was removed). So before an assignment of
// a partition another member still owns is checked, that member's output
// written so far is handled first (catchUp): its revocation, if it printed
// one, is then in the log, and a partition still owned is a real overlap.
type kcatPipe struct {
	r         *os.File
	read      atomic.Int64 // bytes read from the pipe
	handled   atomic.Int64 // bytes of the lines handled so far
	closed    chan struct{}
	closeOnce sync.Once
}

func (p *kcatPipe) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read.Add(int64(n))
	return n, err
}

// unread returns the bytes written to the pipe and not read yet
// (FIONREAD, which Linux calls TIOCINQ).
func (p *kcatPipe) unread() (int64, error) {
	raw, err := p.r.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ioctlErr error
	if err := raw.Control(func(fd uintptr) { n, ioctlErr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil {
		return 0, err
	}
	return int64(n), ioctlErr
}

// catchUp waits until every line the process has written so far is
// handled, the output ends, or timeout passes.
func (p *kcatPipe) catchUp(timeout time.Duration) {
	unread, err := p.unread()
	if err != nil {
		return // the pipe is closed: the reader has handled everything
	}
	target := p.read.Load() + unread
	deadline := time.Now().Add(timeout)
	for p.handled.Load() < target && time.Now().Before(deadline) {
		select {
		case <-p.closed:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// kcatRebalance matches kcat's report of an eager rebalance callback.
var kcatRebalance = regexp.MustCompile(`rebalanced \(memberid [^)]*\): (assigned|revoked): (.*)`)
var kcatPartition = regexp.MustCompile(`\[(\d+)\]`)

// kcatCatchUpTimeout bounds how long one member's reader waits for
// another's to handle what that member has written (kcatPipe.catchUp): a
// line cut in two by the process' writes completes within it.
const kcatCatchUpTimeout = 5 * time.Second

func kcatStarter(g groupTarget, kcat string) startMember {
	var (
		mu    sync.Mutex
		pipes = make(map[string]*kcatPipe) // by member name
	)
	catchUpWith := func(names []string) {
		for _, name := range names {
			mu.Lock()
			p := pipes[name]
			mu.Unlock()
			if p != nil {
				p.catchUp(kcatCatchUpTimeout)
			}
		}
	}
	return func(t *testing.T, name string) groupMember {
		cmd := exec.Command(kcat, "-b", strings.Join(g.bootstrap, ","), "-G", g.group, g.topic,
			"-f", "%p %o\n", "-u",
			"-X", "client.id="+name,
			"-X", "auto.offset.reset=earliest",
			"-X", "enable.auto.commit=true",
			"-X", "auto.commit.interval.ms=100",
			"-X", "session.timeout.ms="+strconv.Itoa(int(memberSessionTimeout.Milliseconds())),
			"-X", "heartbeat.interval.ms="+strconv.Itoa(int(memberHeartbeat.Milliseconds())),
			"-X", "fetch.wait.max.ms=250",
		)
		// One pipe for stdout and stderr keeps records and rebalance
		// reports in the order kcat wrote them.
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = w, w
		err = cmd.Start()
		w.Close()
		if err != nil {
			r.Close()
			t.Fatalf("start kcat: %v", err)
		}
		pipe := &kcatPipe{r: r, closed: make(chan struct{})}
		mu.Lock()
		pipes[name] = pipe
		mu.Unlock()
		m := &kcatMember{cmd: cmd, done: make(chan struct{}), output: &bytes.Buffer{}, pipe: pipe}
		go func() {
			defer close(m.done)
			defer pipe.closeOnce.Do(func() { close(pipe.closed) })
			defer r.Close()
			sc := bufio.NewScanner(pipe)
			for sc.Scan() {
				line := sc.Text()
				handleKcatLine(g, name, m, line, catchUpWith)
				pipe.handled.Add(int64(len(line)) + 1)
			}
		}()
		t.Cleanup(func() { m.stop(t) })
		return m
	}
}

// handleKcatLine records one line of member name's output in g's log.
func handleKcatLine(g groupTarget, name string, m *kcatMember, line string, catchUpWith func([]string)) {
	var pos position
	if _, err := fmt.Sscanf(line, "%d %d", &pos.partition, &pos.offset); err == nil {
		g.log.consume(name, pos)
		return
	}
	m.output.WriteString(line + "\n")
	match := kcatRebalance.FindStringSubmatch(line)
	if match == nil {
		return
	}
	var parts []int32
	for _, pm := range kcatPartition.FindAllStringSubmatch(match[2], -1) {
		p, _ := strconv.Atoi(pm[1])
		parts = append(parts, int32(p))
	}
	if match[1] == "assigned" {
		catchUpWith(g.log.otherOwners(name, parts))
		g.log.assign(name, parts)
	} else {
		g.log.revoke(name, parts)
	}
}

func (m *kcatMember) stop(t *testing.T) {
	m.once.Do(func() {
		// SIGTERM: kcat closes the consumer, which commits and leaves.
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(memberStopTimeout):
			t.Errorf("kcat did not exit within %v of SIGTERM", memberStopTimeout)
			_ = m.cmd.Process.Kill()
			<-m.done
		}
		if err := m.cmd.Wait(); err != nil {
			t.Errorf("kcat: %v\n%s", err, m.output)
		} else if t.Failed() {
			t.Logf("kcat's messages:\n%s", m.output)
		}
	})
}
