package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/internal/zksecure"
	"github.com/kzoo/kzoo/zkpaths"
)

const (
	defaultZooKeeper = "127.0.0.1:2181"
	// zkConnectTimeout bounds the wait for a ZooKeeper session, so that an
	// unreachable ensemble gives an error rather than a hang.
	zkConnectTimeout = 10 * time.Second
)

const clusterHelp = `Usage: kzoo cluster [--zookeeper HOST:PORT[,HOST:PORT...][/chroot]]
                   [--zk-digest USER:PASSWORD] [--zk-tls-config-file FILE]

Reads the cluster's state from ZooKeeper: the cluster id, the live brokers
(id, address, rack), the controller and its epoch, and how many partitions
are in each state of the controller's partition state machine (NonExistent,
New, Online, Offline). The ZooKeeper connect string defaults to
$KZOO_ZOOKEEPER or ` + defaultZooKeeper + `.

` + zkSecurityFlagsHelp

// clusterCommand runs `kzoo cluster`.
func clusterCommand(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	connect := fs.String("zookeeper", envOr("KZOO_ZOOKEEPER", defaultZooKeeper), "")
	zkFlags := addZKSecurityFlags(fs)
	rest, helped, err := parseArgs(fs, clusterHelp, args, out)
	if err != nil || helped {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("cluster: unexpected argument %q", rest[0])
	}
	servers, chroot, err := parseZKConnect(*connect)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	security, err := zkFlags.settings()
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, zkConnectTimeout)
	defer cancel()
	conn, err := dialZooKeeper(ctx, servers, security)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	defer conn.Close()
	report, err := readClusterReport(zkReader{conn: conn, chroot: chroot})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return writeClusterReport(out, report)
}

// parseZKConnect splits a zookeeper.connect string into its servers and its
// chroot ("" for none), as the brokers read it, but wants every server's
// port: the CLI runs where the default one is rarely right.
func parseZKConnect(connect string) (servers []string, chroot string, err error) {
	servers, chroot, err = zkpaths.ParseConnect(connect)
	if err != nil {
		return nil, "", err
	}
	for _, h := range servers {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return nil, "", fmt.Errorf("zookeeper connect %q: server %q: want host:port", connect, h)
		}
	}
	return servers, chroot, nil
}

// dialZooKeeper connects (over TLS if security says so), waits for a
// session until ctx ends, and authenticates with security's digest
// identity. The ZooKeeper client would otherwise keep retrying in the
// background and queue every request meanwhile.
func dialZooKeeper(ctx context.Context, servers []string, security zksecure.Settings) (*zk.Conn, error) {
	conn, events, err := zk.Connect(servers, zkConnectTimeout, zk.WithLogger(discardLogger{}),
		zk.WithDialer(security.Dialer()))
	if err != nil {
		return nil, fmt.Errorf("connect to ZooKeeper %s: %w", strings.Join(servers, ","), err)
	}
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				if err := security.Authenticate(conn); err != nil {
					conn.Close()
					return nil, err
				}
				return conn, nil
			}
			if ev.State == zk.StateAuthFailed {
				conn.Close()
				return nil, fmt.Errorf("connect to ZooKeeper %s: authentication failed", strings.Join(servers, ","))
			}
		case <-ctx.Done():
			conn.Close()
			return nil, fmt.Errorf("cannot reach ZooKeeper at %s: no session after %v: %w", strings.Join(servers, ","), zkConnectTimeout, ctx.Err())
		}
	}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// znodeReader reads znodes by their path in the cluster namespace; a
// missing znode is zk.ErrNoNode.
type znodeReader interface {
	Get(path string) ([]byte, error)
	Children(path string) ([]string, error)
}

// zkReader reads znodes over a ZooKeeper session, under a chroot.
type zkReader struct {
	conn   *zk.Conn
	chroot string
}

func (r zkReader) Get(p string) ([]byte, error) {
	data, _, err := r.conn.Get(r.chroot + p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r.chroot+p, err)
	}
	return data, nil
}

func (r zkReader) Children(p string) ([]string, error) {
	children, _, err := r.conn.Children(r.chroot + p)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", r.chroot+p, err)
	}
	return children, nil
}

// clusterReport is what `kzoo cluster` prints.
type clusterReport struct {
	ClusterID       string // "" when not yet written
	Controller      int32  // -1 when no broker is controller
	ControllerEpoch int32  // 0 before the first election
	Brokers         []brokerRow
	Topics          int
	// PartitionStates counts partitions per partition state.
	PartitionStates map[string]int
}

// brokerRow is one registered (live) broker.
type brokerRow struct {
	ID      int32
	Address string // host:port of its first endpoint
	Rack    string
}

// partitionStates lists the states in the order of the state machine.
var partitionStates = []string{
	string(zkpaths.StateNonExistent), string(zkpaths.StateNew), string(zkpaths.StateOnline), string(zkpaths.StateOffline),
}

// readClusterReport reads the cluster's registration, controller and
// partition state znodes. A topic or broker that disappears while it reads
// is left out; any other failure ends it.
func readClusterReport(r znodeReader) (clusterReport, error) {
	report := clusterReport{Controller: -1, PartitionStates: make(map[string]int)}

	if data, err := r.Get(zkpaths.ClusterIDPath); err == nil {
		id, err := zkpaths.UnmarshalClusterID(data)
		if err != nil {
			return report, err
		}
		report.ClusterID = id.ID
	} else if !errors.Is(err, zk.ErrNoNode) {
		return report, err
	}

	if data, err := r.Get(zkpaths.ControllerPath); err == nil {
		c, err := zkpaths.UnmarshalControllerRegistration(data)
		if err != nil {
			return report, err
		}
		report.Controller = c.BrokerID
	} else if !errors.Is(err, zk.ErrNoNode) {
		return report, err
	}
	if data, err := r.Get(zkpaths.ControllerEpochPath); err == nil {
		if report.ControllerEpoch, err = zkpaths.UnmarshalControllerEpoch(data); err != nil {
			return report, err
		}
	} else if !errors.Is(err, zk.ErrNoNode) {
		return report, err
	}

	ids, err := r.Children(zkpaths.BrokerIDsPath)
	if errors.Is(err, zk.ErrNoNode) {
		// Every broker creates it at start: this is not a cluster's
		// namespace (a chroot missing from --zookeeper, or a wrong one).
		return report, fmt.Errorf("no kzoo or Kafka cluster here: %s does not exist (is the chroot right?)", zkpaths.BrokerIDsPath)
	}
	if err != nil {
		return report, err
	}
	for _, name := range ids {
		id, err := strconv.ParseInt(name, 10, 32)
		if err != nil {
			continue // not a broker registration
		}
		data, err := r.Get(zkpaths.BrokerIDPath(int32(id)))
		if errors.Is(err, zk.ErrNoNode) {
			continue // the broker just went away
		}
		if err != nil {
			return report, err
		}
		reg, err := zkpaths.UnmarshalBrokerRegistration(data)
		if err != nil {
			return report, fmt.Errorf("broker %d: %w", id, err)
		}
		row := brokerRow{ID: int32(id), Rack: reg.Rack}
		if len(reg.Endpoints) > 0 {
			e := reg.Endpoints[0]
			row.Address = net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
		}
		report.Brokers = append(report.Brokers, row)
	}
	slices.SortFunc(report.Brokers, func(a, b brokerRow) int { return int(a.ID) - int(b.ID) })

	topics, err := r.Children(zkpaths.TopicsPath)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return report, err
	}
	for _, topic := range topics {
		counted, err := countPartitionStates(r, topic, report.PartitionStates)
		if err != nil {
			return report, err
		}
		if counted {
			report.Topics++
		}
	}
	return report, nil
}

// countPartitionStates adds the state of each partition of topic to
// counts. A partition without a state znode is NonExistent: the controller
// has not created it yet. It reports false when the topic is gone.
func countPartitionStates(r znodeReader, topic string, counts map[string]int) (bool, error) {
	data, err := r.Get(zkpaths.TopicPath(topic))
	if errors.Is(err, zk.ErrNoNode) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	assignment, err := zkpaths.UnmarshalTopicAssignment(data)
	if err != nil {
		return false, fmt.Errorf("topic %s: %w", topic, err)
	}
	for p := range assignment.Partitions {
		data, err := r.Get(zkpaths.PartitionStatePath(topic, p))
		if errors.Is(err, zk.ErrNoNode) {
			counts[string(zkpaths.StateNonExistent)]++
			continue
		}
		if err != nil {
			return false, err
		}
		state, err := zkpaths.UnmarshalPartitionState(data)
		if err != nil {
			return false, fmt.Errorf("partition %s-%d: %w", topic, p, err)
		}
		counts[string(state.State)]++
	}
	return true, nil
}

// writeClusterReport prints the report.
func writeClusterReport(w io.Writer, r clusterReport) error {
	clusterID := r.ClusterID
	if clusterID == "" {
		clusterID = "(none yet)"
	}
	fmt.Fprintf(w, "Cluster ID: %s\n", clusterID)
	if r.Controller >= 0 {
		fmt.Fprintf(w, "Controller: broker %d (epoch %d)\n", r.Controller, r.ControllerEpoch)
	} else {
		fmt.Fprintf(w, "Controller: none (last epoch %d)\n", r.ControllerEpoch)
	}
	fmt.Fprintf(w, "\nBrokers: %d\n", len(r.Brokers))
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tADDRESS\tRACK")
	for _, b := range r.Brokers {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", b.ID, orDash(b.Address), orDash(b.Rack))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	total := 0
	for _, n := range r.PartitionStates {
		total += n
	}
	fmt.Fprintf(w, "\nPartitions: %d in %d topics\n", total, r.Topics)
	tw = newTable(w)
	fmt.Fprintln(tw, "STATE\tCOUNT")
	for _, s := range partitionStates {
		fmt.Fprintf(tw, "%s\t%d\n", s, r.PartitionStates[s])
	}
	return tw.Flush()
}
