package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kzoo/kzoo/internal/poll"
)

// Consume-transform-produce, exactly once: three transactional workers of
// one consumer group copy 50,000 keyed records from a 6-partition input
// topic to an output topic, committing the input offsets inside each
// transaction. One worker is SIGKILLed with a transaction open and
// replaced; on kzoo, the broker that coordinates another worker's
// transactions is SIGKILLed and restarted. At the end a read_committed
// reader finds every input record in the output exactly once.

const (
	txnCopyRecords    = 50000
	txnCopyPartitions = 6
	txnCopyWorkers    = 3
	txnCopyBatch      = 400
	// The worker to kill holds its 4th transaction open.
	txnCopyHoldAfter = 3
	// The slot of the worker killed mid-transaction, and of the worker
	// whose coordinator is killed.
	txnKilledSlot      = 2
	txnCoordinatorSlot = 1
)

func TestTransactionalCopyFranz(t *testing.T) { runTxnCopy(t, "franz-go") }

func TestTransactionalCopySarama(t *testing.T) { runTxnCopy(t, "sarama") }

func TestTransactionalCopyConfluent(t *testing.T) {
	requirePython(t, "confluent_kafka")
	runTxnCopy(t, "confluent-kafka")
}

func runTxnCopy(t *testing.T, client string) {
	start := time.Now()
	tc := startTxnCluster(t)
	input, output := tc.name("txn-copy-in-"+client), tc.name("txn-copy-out-"+client)
	tc.createTopic(t, input, txnCopyPartitions)
	tc.createTopic(t, output, txnCopyPartitions)
	in := produceTxnInputs(t, tc, input, txnCopyRecords)
	t.Logf("input produced after %v", time.Since(start).Round(time.Millisecond))

	run := &txnCopyRun{
		t:       t,
		tc:      tc,
		client:  client,
		group:   tc.name("txn-copy-" + client),
		input:   input,
		output:  output,
		kip447:  supportsKIP447(t, tc),
		holding: make(chan string, txnCopyWorkers),
	}
	t.Cleanup(run.killAll)
	for slot := 1; slot <= txnCopyWorkers; slot++ {
		hold := 0
		if slot == txnKilledSlot {
			hold = txnCopyHoldAfter
		}
		run.start(slot, hold)
	}

	// A worker dies with a transaction open: its records are in the
	// output, uncommitted. Its replacement, with the same transactional
	// id, fences it and aborts the transaction.
	select {
	case name := <-run.holding:
		run.kill(name)
		run.start(txnKilledSlot, 0)
	case <-time.After(time.Minute):
		t.Fatalf("worker %d did not hold a transaction open within a minute; events:\n%s", txnKilledSlot, run.transcript())
	}

	if tc.c != nil {
		run.killCoordinator()
	} else {
		t.Log("external cluster: the transaction coordinator is not killed")
	}

	waitGroupCommitted(t, tc, run.group, input, txnCopyPartitions, 90*time.Second)
	t.Logf("every input offset committed after %v; %d transactions committed, %d aborted", time.Since(start).Round(time.Millisecond), run.committedTxns(), run.abortedTxns())
	run.stopAll()
	run.checkExits()

	// Idempotent, non-transactional produce to the output topic still
	// works; the readers stop at these records.
	produceEndMarkers(t, tc, output, txnCopyPartitions)
	committed := readToEndMarkers(t, tc, output, txnCopyPartitions, kgo.ReadCommitted())
	uncommitted := readToEndMarkers(t, tc, output, txnCopyPartitions, kgo.ReadUncommitted())
	checkCopies(t, in, committed, uncommitted, true)
	if t.Failed() {
		t.Logf("worker events:\n%s", run.transcript())
	}
	t.Logf("%s: %v in all", client, time.Since(start).Round(time.Millisecond))
}

// txnCopyRun is one copy test's set of worker processes.
type txnCopyRun struct {
	t              *testing.T
	tc             *txnCluster
	client         string
	group          string
	input, output  string
	kip447         bool
	holding        chan string // names of workers holding a transaction open
	mu             sync.Mutex
	workers        map[string]*txnWorkerProc // running, by name
	started        map[int]int               // per slot
	committed      int                       // transactions
	aborted        int
	committedRecs  int
	events         []string // every line but "committed", for failure reports
	unexpectedExit []string
}

// txnWorkerProc is one worker process.
type txnWorkerProc struct {
	name     string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited and its output is read
	stopping bool          // the test killed or stopped it; guarded by the run's mu
	stderr   *tailBuffer
}

func (r *txnCopyRun) transactionalID(slot int) string {
	return fmt.Sprintf("%s-worker-%d", r.group, slot)
}

// start starts a worker in slot; a replacement in a slot gets the slot's
// transactional id, so that it fences its predecessor.
func (r *txnCopyRun) start(slot, holdAfter int) {
	t := r.t
	t.Helper()
	r.mu.Lock()
	if r.workers == nil {
		r.workers, r.started = map[string]*txnWorkerProc{}, map[int]int{}
	}
	r.started[slot]++
	name := fmt.Sprintf("w%d.%d", slot, r.started[slot])
	r.mu.Unlock()

	env := []string{
		txnWorkerBootstrap + "=" + strings.Join(r.tc.bootstrap, ","),
		txnWorkerGroup + "=" + r.group,
		txnWorkerInput + "=" + r.input,
		txnWorkerOutput + "=" + r.output,
		txnWorkerID + "=" + r.transactionalID(slot),
		txnWorkerBatch + "=" + strconv.Itoa(txnCopyBatch),
		txnWorkerHoldAfter + "=" + strconv.Itoa(holdAfter),
		txnWorkerKIP447 + "=" + map[bool]string{true: "1", false: "0"}[r.kip447],
	}
	base := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "KZOO_TXN_WORKER") || strings.HasPrefix(kv, "PYTHON")
	})
	var cmd *exec.Cmd
	if r.client == "confluent-kafka" {
		script, err := filepath.Abs(filepath.Join("testdata", "python", "txn_worker.py"))
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(debianPython, script)
		env = append(env, "PYTHONDONTWRITEBYTECODE=1")
	} else {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(self)
		env = append(env, txnWorkerEnv+"="+r.client)
	}
	cmd.Env = append(base, env...)
	// A worker must not outlive the test process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &txnWorkerProc{name: name, cmd: cmd, done: make(chan struct{}), stderr: &tailBuffer{max: 8 << 10}}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start worker %s: %v", name, err)
	}
	r.mu.Lock()
	r.workers[name] = w
	r.mu.Unlock()
	go r.watch(w, stdout)
}

// watch reads a worker's events until it exits.
func (r *txnCopyRun) watch(w *txnWorkerProc, stdout io.Reader) {
	defer close(w.done)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		kind, rest, _ := strings.Cut(line, " ")
		n, _ := strconv.Atoi(strings.Fields(rest + " 0")[0])
		r.mu.Lock()
		switch kind {
		case "committed":
			r.committed++
			r.committedRecs += n
		case "aborted":
			r.aborted++
		case "holding":
			r.holding <- w.name
		}
		if kind != "committed" {
			r.events = append(r.events, fmt.Sprintf("%s %s: %s", time.Now().Format("15:04:05.000"), w.name, line))
		}
		r.mu.Unlock()
	}
	err := w.cmd.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.workers, w.name)
	if !w.stopping {
		r.unexpectedExit = append(r.unexpectedExit, fmt.Sprintf("worker %s exited by itself (%v); stderr:\n%s", w.name, err, w.stderr.String()))
	} else if err != nil && !isKilled(w.cmd.ProcessState) {
		r.unexpectedExit = append(r.unexpectedExit, fmt.Sprintf("worker %s failed on SIGTERM (%v); stderr:\n%s", w.name, err, w.stderr.String()))
	}
}

func isKilled(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// kill SIGKILLs a worker and waits until it is gone.
func (r *txnCopyRun) kill(name string) {
	r.mu.Lock()
	w := r.workers[name]
	if w != nil {
		w.stopping = true
	}
	r.mu.Unlock()
	if w == nil {
		r.t.Fatalf("no running worker %s to kill", name)
	}
	_ = w.cmd.Process.Kill()
	<-w.done
	r.t.Logf("killed worker %s with a transaction open", name)
}

// killCoordinator SIGKILLs the broker that coordinates one worker's
// transactions while the workers run, and restarts it once they have made
// progress without it.
func (r *txnCopyRun) killCoordinator() {
	t := r.t
	t.Helper()
	progress := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.committedRecs
	}
	poll.Until(t, time.Minute, "the workers to copy a third of the input", func() bool { return progress() >= txnCopyRecords/3 })
	node, err := txnCoordinator(r.tc.client(t), r.transactionalID(txnCoordinatorSlot))
	if err != nil {
		t.Fatal(err)
	}
	before := progress()
	if err := r.tc.c.KillBroker(int(node)); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed broker %d, the transaction coordinator of %s, after %d copies", node, r.transactionalID(txnCoordinatorSlot), before)
	poll.Until(t, time.Minute, "the workers to copy more without the coordinator", func() bool {
		return progress() >= before+txnCopyRecords/10 || progress() >= txnCopyRecords
	})
	if err := r.tc.c.StartBroker(int(node)); err != nil {
		t.Fatal(err)
	}
	untilBrokerAnswers(t, r.tc, int(node))
	t.Logf("restarted broker %d after %d more copies", node, progress()-before)
}

// stopAll sends every worker SIGTERM and waits for them to end their
// transactions and exit.
func (r *txnCopyRun) stopAll() {
	r.mu.Lock()
	var ws []*txnWorkerProc
	for _, w := range r.workers {
		w.stopping = true
		ws = append(ws, w)
	}
	r.mu.Unlock()
	for _, w := range ws {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range ws {
		select {
		case <-w.done:
		case <-time.After(memberStopTimeout):
			r.t.Errorf("worker %s did not exit within %v of SIGTERM", w.name, memberStopTimeout)
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	}
}

// killAll is the cleanup: it kills whatever still runs.
func (r *txnCopyRun) killAll() {
	r.mu.Lock()
	var ws []*txnWorkerProc
	for _, w := range r.workers {
		w.stopping = true
		ws = append(ws, w)
	}
	r.mu.Unlock()
	for _, w := range ws {
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// checkExits fails the test for every worker that exited but was not
// stopped or killed by it.
func (r *txnCopyRun) checkExits() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.unexpectedExit {
		r.t.Error(e)
	}
}

func (r *txnCopyRun) committedTxns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.committed
}

func (r *txnCopyRun) abortedTxns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.aborted
}

func (r *txnCopyRun) transcript() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.events, "\n")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
