package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The consume-transform-produce workers of the transaction tests run as
// separate processes, so that a test can SIGKILL one in the middle of a
// transaction. A worker is this test binary run again with the environment
// below: TestMain sees txnWorkerEnv and runs the worker instead of the
// tests. (The librdkafka worker is testdata/python/txn_worker.py, which
// reads the same variables.)
//
// A worker prints one line per event on stdout, which the test reads:
//
//	committed N     a transaction of N records committed
//	aborted N WHY   a transaction of N records aborted
//	holding N       a transaction of N records is written and held open
//	                (txnWorkerHoldAfter); the worker does nothing more
//	restart WHY     the worker's client cannot go on; it starts a new one
//	                with the same transactional id (franz-go)
//	fatal WHY       the worker gives up and exits with status 1
//
// On SIGTERM a worker ends its current transaction, leaves the group and
// exits with status 0.
const (
	txnWorkerEnv       = "KZOO_TXN_WORKER" // the client: franz-go or sarama
	txnWorkerBootstrap = "KZOO_TXN_WORKER_BOOTSTRAP"
	txnWorkerGroup     = "KZOO_TXN_WORKER_GROUP"
	txnWorkerInput     = "KZOO_TXN_WORKER_INPUT"
	txnWorkerOutput    = "KZOO_TXN_WORKER_OUTPUT"
	txnWorkerID        = "KZOO_TXN_WORKER_TRANSACTIONAL_ID"
	// Records per transaction, at most.
	txnWorkerBatch = "KZOO_TXN_WORKER_BATCH"
	// After this many committed transactions, the next one is written and
	// held open forever (0: never), so that a test can kill the worker
	// mid-transaction at a moment it knows.
	txnWorkerHoldAfter = "KZOO_TXN_WORKER_HOLD_AFTER"
	// "1" when the brokers support KIP-447 (TxnOffsetCommit v3): sarama
	// then sends the member id and generation with the offsets.
	txnWorkerKIP447 = "KZOO_TXN_WORKER_KIP447"
)

func TestMain(m *testing.M) {
	if client := os.Getenv(txnWorkerEnv); client != "" {
		os.Exit(runTxnWorker(client))
	}
	os.Exit(m.Run())
}

// txnWorkerConfig is a worker's environment, parsed.
type txnWorkerConfig struct {
	bootstrap       []string
	group           string
	input, output   string
	transactionalID string
	batch           int
	holdAfter       int
	kip447          bool
}

func txnWorkerConfigFromEnv() (txnWorkerConfig, error) {
	cfg := txnWorkerConfig{
		bootstrap:       strings.Split(os.Getenv(txnWorkerBootstrap), ","),
		group:           os.Getenv(txnWorkerGroup),
		input:           os.Getenv(txnWorkerInput),
		output:          os.Getenv(txnWorkerOutput),
		transactionalID: os.Getenv(txnWorkerID),
		kip447:          os.Getenv(txnWorkerKIP447) == "1",
	}
	var err error
	if cfg.batch, err = strconv.Atoi(os.Getenv(txnWorkerBatch)); err != nil || cfg.batch <= 0 {
		return cfg, fmt.Errorf("%s=%q: want a positive number", txnWorkerBatch, os.Getenv(txnWorkerBatch))
	}
	if v := os.Getenv(txnWorkerHoldAfter); v != "" {
		if cfg.holdAfter, err = strconv.Atoi(v); err != nil {
			return cfg, fmt.Errorf("%s=%q: %w", txnWorkerHoldAfter, v, err)
		}
	}
	if cfg.group == "" || cfg.input == "" || cfg.output == "" || cfg.transactionalID == "" || cfg.bootstrap[0] == "" {
		return cfg, errors.New("bootstrap, group, input, output and transactional id must all be set")
	}
	return cfg, nil
}

// txnEvents prints a worker's events; it is safe for concurrent use.
type txnEvents struct {
	mu        sync.Mutex
	committed int // transactions
}

func (e *txnEvents) print(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

// commit reports a committed transaction of n records and reports whether
// the next one is to be held open.
func (e *txnEvents) commit(n int, holdAfter int) (holdNext bool) {
	e.mu.Lock()
	e.committed++
	hold := holdAfter > 0 && e.committed >= holdAfter
	e.mu.Unlock()
	e.print("committed %d", n)
	return hold
}

// hold reports a held transaction and blocks until the process is killed
// or told to stop; a SIGTERM then exits without ending the transaction, as
// a crash would.
func (e *txnEvents) hold(ctx context.Context, n int) {
	e.print("holding %d", n)
	<-ctx.Done()
	os.Exit(0)
}

func runTxnWorker(client string) int {
	cfg, err := txnWorkerConfigFromEnv()
	if err != nil {
		fmt.Printf("fatal %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ev := &txnEvents{}
	switch client {
	case "franz-go":
		err = runFranzTxnWorker(ctx, cfg, ev)
	case "sarama":
		err = runSaramaTxnWorker(ctx, cfg, ev)
	default:
		err = fmt.Errorf("unknown client %q", client)
	}
	if err != nil {
		ev.print("fatal %v", err)
		fmt.Fprintf(os.Stderr, "fatal %v\n", err) // for the test's report of an unexpected exit
		return 1
	}
	return 0
}

// ---- franz-go ----

// runFranzTxnWorker copies records with kgo's GroupTransactSession, which
// aborts a transaction whenever the group rebalanced while it was open and
// commits the consumed offsets inside it (KIP-447 where the brokers have it).
func runFranzTxnWorker(ctx context.Context, cfg txnWorkerConfig, ev *txnEvents) error {
	holdNext := false // carried over sessions: the hold comes after cfg.holdAfter commits in all
	for {
		restart, err := runFranzTxnSession(ctx, cfg, ev, &holdNext)
		if err != nil || !restart {
			return err
		}
	}
}

// runFranzTxnSession copies records in one session until ctx ends, or
// until beginning or ending a transaction fails (restart): franz-go aborts it then, or
// cannot tell how it ended (a coordinator killed mid-EndTxn), and its
// producer may be left unusable. Exactly-once holds either way, since the
// input offsets commit with the output: a new session with the same
// transactional id fences the old producer, waits for its transaction to
// complete, and resumes from the group's committed offsets.
func runFranzTxnSession(ctx context.Context, cfg txnWorkerConfig, ev *txnEvents, holdNext *bool) (restart bool, err error) {
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(cfg.bootstrap...),
		kgo.ClientID(cfg.transactionalID),
		kgo.TransactionalID(cfg.transactionalID),
		kgo.TransactionTimeout(30*time.Second),
		kgo.ConsumerGroup(cfg.group),
		kgo.ConsumeTopics(cfg.input),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.SessionTimeout(memberSessionTimeout),
		kgo.HeartbeatInterval(memberHeartbeat),
		kgo.RebalanceTimeout(memberRebalanceTimeout),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.RecordDeliveryTimeout(time.Minute),
		// Warnings and errors go to stderr, whose tail the test prints
		// when a worker exits by itself.
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelWarn, nil)),
	)
	if err != nil {
		return false, err
	}
	defer sess.Close()
	for {
		fetches := sess.PollRecords(ctx, cfg.batch)
		if ctx.Err() != nil {
			return false, nil // nothing begun: the polled records go to the next owner
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			ev.print("fetch-error %s/%d %v", topic, partition, err)
		})
		recs := fetches.Records()
		if len(recs) == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			// franz-go refuses to begin once its producer id has failed
			// in a way it cannot recover from (as after an abort forced
			// by a coordinator it could not reach for a minute): an
			// application starts a new client then, as after a failed
			// End. The polled records go to the next session.
			ev.print("restart begin-error=%v", err)
			return ctx.Err() == nil, nil
		}
		var mu sync.Mutex
		var produceErr error
		for _, r := range recs {
			sess.Produce(ctx, &kgo.Record{Topic: cfg.output, Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					produceErr = errors.Join(produceErr, err)
					mu.Unlock()
				}
			})
		}
		if *holdNext {
			if err := sess.Client().Flush(ctx); err != nil {
				return false, fmt.Errorf("flush: %w", err)
			}
			ev.hold(ctx, len(recs))
		}
		try := kgo.TryCommit
		if err := sess.Client().Flush(ctx); err != nil && ctx.Err() == nil {
			return false, fmt.Errorf("flush: %w", err)
		}
		mu.Lock()
		if produceErr != nil {
			try = kgo.TryAbort
		}
		mu.Unlock()
		// Once begun, a transaction is ended even while stopping.
		committed, err := sess.End(context.WithoutCancel(ctx), try)
		switch {
		case err != nil:
			// One franz-go does not retry, such as a TxnOffsetCommit
			// that timed out while a broker of the ISR was being
			// killed (Kafka answers REQUEST_TIMED_OUT then too).
			ev.print("aborted %d produce-error=%v end-error=%v", len(recs), produceErr, err)
			return ctx.Err() == nil, nil
		case !committed:
			ev.print("aborted %d produce-error=%v", len(recs), produceErr)
		default:
			*holdNext = ev.commit(len(recs), cfg.holdAfter)
		}
		if ctx.Err() != nil {
			return false, nil
		}
	}
}

// ---- sarama ----

// runSaramaTxnWorker copies records with sarama's transactional
// AsyncProducer and a ConsumerGroup. Each group session runs one loop that
// takes the records of all its claims, so that one producer serves the
// worker; a failed transaction ends the session, so that the records are
// read again from the committed offsets.
func runSaramaTxnWorker(ctx context.Context, cfg txnWorkerConfig, ev *txnEvents) error {
	version := sarama.V2_4_0_0
	if cfg.kip447 {
		version = sarama.V2_8_0_0
	}
	pcfg := sarama.NewConfig()
	pcfg.Version = version
	pcfg.ClientID = cfg.transactionalID
	pcfg.Producer.Idempotent = true
	pcfg.Producer.RequiredAcks = sarama.WaitForAll
	pcfg.Producer.Return.Successes = true
	pcfg.Producer.Return.Errors = true
	pcfg.Producer.Partitioner = sarama.NewHashPartitioner
	pcfg.Producer.Transaction.ID = cfg.transactionalID
	pcfg.Producer.Transaction.Timeout = 30 * time.Second
	// Retries for 30 s: a killed broker's partitions and coordinators
	// move within a ZooKeeper session timeout.
	pcfg.Producer.Retry.Max = 150
	pcfg.Producer.Retry.Backoff = 200 * time.Millisecond
	pcfg.Producer.Transaction.Retry.Max = 150
	pcfg.Producer.Transaction.Retry.Backoff = 200 * time.Millisecond
	pcfg.Net.MaxOpenRequests = 1
	producer, err := sarama.NewAsyncProducer(cfg.bootstrap, pcfg)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer producer.Close()

	ccfg := sarama.NewConfig()
	ccfg.Version = version
	ccfg.ClientID = cfg.transactionalID
	ccfg.Consumer.IsolationLevel = sarama.ReadCommitted
	ccfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	ccfg.Consumer.Offsets.AutoCommit.Enable = false
	ccfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	ccfg.Consumer.Group.Session.Timeout = memberSessionTimeout
	ccfg.Consumer.Group.Heartbeat.Interval = memberHeartbeat
	ccfg.Consumer.Group.Rebalance.Timeout = memberRebalanceTimeout
	ccfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	group, err := sarama.NewConsumerGroup(cfg.bootstrap, cfg.group, ccfg)
	if err != nil {
		return fmt.Errorf("consumer group: %w", err)
	}
	defer group.Close()
	go func() {
		for range group.Errors() {
		}
	}()
	h := &saramaTxnHandler{cfg: cfg, ev: ev, producer: producer, process: ctx, fatal: make(chan error, 1)}
	for ctx.Err() == nil {
		err := group.Consume(ctx, []string{cfg.input}, h)
		select {
		case err := <-h.fatal:
			return err
		default:
		}
		if errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return nil
		}
	}
	return nil
}

type saramaTxnHandler struct {
	cfg      txnWorkerConfig
	ev       *txnEvents
	producer sarama.AsyncProducer
	process  context.Context // ends on SIGTERM
	fatal    chan error
	holdNext bool

	// Of the current session: its claims' records, closed by nobody; done
	// is closed when the session's loop returns, which ends the claims.
	msgs chan *sarama.ConsumerMessage
	done chan struct{}
}

func (h *saramaTxnHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.msgs = make(chan *sarama.ConsumerMessage, h.cfg.batch)
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		if err := h.loop(s); err != nil {
			select {
			case h.fatal <- err:
			default:
			}
		}
	}()
	return nil
}

// Cleanup runs once every ConsumeClaim has returned; the loop then ends
// its transaction, if any, before the member rejoins.
func (h *saramaTxnHandler) Cleanup(sarama.ConsumerGroupSession) error {
	<-h.done
	if !h.cfg.kip447 {
		// Before KIP-447 (Kafka 2.5) a broker answers OffsetFetch with the
		// last offsets whose commit markers are written, so the partitions'
		// next owner could read offsets older than the transaction just
		// committed. Rejoining a little later lets the markers land first,
		// as franz-go does after each commit on such brokers.
		time.Sleep(500 * time.Millisecond)
	}
	return nil
}

func (h *saramaTxnHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			select {
			case h.msgs <- msg:
			case <-h.done:
				return nil
			case <-s.Context().Done():
				return nil
			}
		case <-h.done:
			return nil // the loop ended the session
		case <-s.Context().Done():
			return nil
		}
	}
}

// loop runs the session's transactions until the session ends or one
// fails; it returns an error only when the producer cannot go on.
func (h *saramaTxnHandler) loop(s sarama.ConsumerGroupSession) error {
	ctx := s.Context()
	for {
		batch := h.collect(ctx)
		if len(batch) == 0 {
			return nil
		}
		if err := h.transact(s, batch); err != nil {
			if h.producer.TxnStatus()&sarama.ProducerTxnFlagFatalError != 0 {
				return fmt.Errorf("transaction: %w", err)
			}
			if h.producer.TxnStatus()&sarama.ProducerTxnFlagAbortableError != 0 {
				if aerr := h.producer.AbortTxn(); aerr != nil {
					return fmt.Errorf("abort after %v: %w", err, aerr)
				}
			}
			h.ev.print("aborted %d %v", len(batch), err)
			return nil // ends the session: the next one reads from the committed offsets
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// collect returns up to batch records: those that arrive within a short
// time of the first. It returns nothing once the session ends.
func (h *saramaTxnHandler) collect(ctx context.Context) []*sarama.ConsumerMessage {
	var batch []*sarama.ConsumerMessage
	select {
	case msg := <-h.msgs:
		batch = append(batch, msg)
	case <-ctx.Done():
		return nil
	}
	linger := time.NewTimer(100 * time.Millisecond)
	defer linger.Stop()
	for len(batch) < h.cfg.batch {
		select {
		case msg := <-h.msgs:
			batch = append(batch, msg)
		case <-linger.C:
			return batch
		case <-ctx.Done():
			return nil // not begun: the records go to the partitions' next owner
		}
	}
	return batch
}

func (h *saramaTxnHandler) transact(s sarama.ConsumerGroupSession, batch []*sarama.ConsumerMessage) error {
	if err := h.producer.BeginTxn(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	next := map[int32]int64{}
	for _, msg := range batch {
		h.producer.Input() <- &sarama.ProducerMessage{Topic: h.cfg.output, Key: sarama.ByteEncoder(msg.Key), Value: sarama.ByteEncoder(msg.Value)}
		next[msg.Partition] = msg.Offset + 1
	}
	// Wait for every record's result: the producer's flush.
	var produceErr error
	for range batch {
		select {
		case <-h.producer.Successes():
		case perr := <-h.producer.Errors():
			produceErr = errors.Join(produceErr, perr)
		}
	}
	if produceErr != nil {
		return fmt.Errorf("produce: %w", produceErr)
	}
	if h.holdNext {
		h.ev.hold(h.process, len(batch))
	}
	offsets := make([]*sarama.PartitionOffsetMetadata, 0, len(next))
	for p, o := range next {
		offsets = append(offsets, &sarama.PartitionOffsetMetadata{Partition: p, Offset: o})
	}
	meta := sarama.NewConsumerGroupMetadata(h.cfg.group)
	if h.cfg.kip447 {
		meta = sarama.NewConsumerGroupMetadataFromSession(s, h.cfg.group, nil)
	}
	if err := h.producer.AddOffsetsToTxnWithGroupMetadata(map[string][]*sarama.PartitionOffsetMetadata{h.cfg.input: offsets}, meta); err != nil {
		return fmt.Errorf("add offsets: %w", err)
	}
	if err := h.producer.CommitTxn(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	h.holdNext = h.ev.commit(len(batch), h.cfg.holdAfter)
	return nil
}
