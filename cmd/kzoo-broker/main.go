// Command kzoo-broker runs one kzoo broker: it reads its configuration,
// registers in ZooKeeper, serves the Kafka protocol, and shuts down cleanly
// on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker"
	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/logging"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/internal/zksecure"
)

// overrides collects repeated --override key=value flags.
type overrides []string

func (o *overrides) String() string     { return strings.Join(*o, ",") }
func (o *overrides) Set(v string) error { *o = append(*o, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "kzoo-broker: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kzoo-broker", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML config file with Kafka's key names")
	var ovr overrides
	fs.Var(&ovr, "override", "key=value overriding the config file and KZOO_* variables (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kzoo-broker --config FILE [--override key=value]...\n\n"+
			"Every key can also be set with an environment variable KZOO_<KEY>\n"+
			"(dots and dashes become underscores, upper case), e.g. KZOO_BROKER_ID=1.\n"+
			"Precedence: --override, then KZOO_*, then the file, then Kafka's defaults.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (settings go in --override key=value)", fs.Arg(0))
	}

	vals, err := config.Load(*configPath, os.Environ(), ovr)
	if err != nil {
		return err
	}
	cfg, err := vals.Broker()
	if err != nil {
		return err
	}
	loggers := newLoggers(cfg)
	log := loggers.Root()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, cfg, loggers); err != nil {
		return err
	}
	log.Info("broker stopped")
	return nil
}

// newLoggers returns the broker's loggers: the root one, for the broker's
// own lines, and the components', whose levels change at run time.
func newLoggers(cfg *config.Broker) *logging.Loggers {
	var formatter logrus.Formatter = &logrus.TextFormatter{FullTimestamp: true}
	if cfg.LogFormat == "json" {
		formatter = &logrus.JSONFormatter{}
	}
	level, err := logrus.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = logrus.InfoLevel
	}
	return logging.New(os.Stderr, formatter, level, logrus.Fields{"broker": cfg.ID})
}

// serve starts the broker's parts in dependency order -- ZooKeeper session
// (registration), logs, protocol server -- and stops them in reverse.
func serve(ctx context.Context, cfg *config.Broker, loggers *logging.Loggers) error {
	log := loggers.Root()
	var endpoints []coordinator.Endpoint
	for _, l := range cfg.AdvertisedListeners {
		endpoints = append(endpoints, coordinator.Endpoint{Listener: l.Name, SecurityProtocol: cfg.ListenerSecurityProtocols[l.Name], Host: l.Host, Port: l.Port})
	}
	zkSecurity, err := zooKeeperSecurity(cfg.Values.ZooKeeperSecurity())
	if err != nil {
		return err
	}
	session, err := coordinator.Start(ctx, coordinator.Config{
		BrokerID:              cfg.ID,
		Connect:               cfg.ZooKeeperConnect,
		SessionTimeout:        cfg.ZooKeeperSessionTimeout,
		ConnectionTimeout:     cfg.ZooKeeperConnectTimeout,
		Endpoints:             endpoints,
		Rack:                  cfg.Rack,
		Console:               cfg.ConsoleAdvertised,
		Logger:                loggers.Component("coordinator"),
		UncleanLeaderElection: cfg.UncleanLeaderElection,

		AutoLeaderRebalance:                cfg.AutoLeaderRebalance,
		LeaderImbalanceCheckInterval:       cfg.LeaderImbalanceCheckInterval,
		LeaderImbalancePerBrokerPercentage: cfg.LeaderImbalancePerBrokerPercentage,

		ZooKeeperSecurity: zkSecurity,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := session.Close(); err != nil {
			log.WithError(err).Warn("deregistering from ZooKeeper failed")
		}
	}()

	cleaner := cfg.Values.LogCleaner()
	logs, err := storage.NewManager(storage.ManagerConfig{
		Dirs:                   cfg.LogDirs,
		BrokerID:               cfg.ID,
		ClusterID:              session.ClusterID(),
		RetentionCheckInterval: cfg.RetentionCheckInterval,
		FlushSchedulerInterval: time.Second,
		CheckpointInterval:     cfg.FlushCheckpointInterval,
		Logger:                 loggers.Component("storage"),
		MaxOpenFiles:           cfg.Values.MaxOpenFiles(),

		CleanerEnabled:          cleaner.Enabled,
		CleanerBackoff:          cleaner.Backoff,
		CleanerDedupeBufferSize: cleaner.DedupeBufferSize,
		CleanerThreads:          cleaner.Threads,

		CleanerIOMaxBytesPerSecond: cleaner.IOMaxBytesPerSecond,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := logs.Close(); err != nil {
			log.WithError(err).Error("closing the logs failed")
		}
	}()

	srv, err := broker.New(cfg, session, logs, loggers)
	if err != nil {
		return err
	}
	log.WithField("listeners", srv.Addrs()).WithField("cluster_id", session.ClusterID()).Info("broker started")

	// The storage loop (retention, flushes, checkpoints) stops after the
	// server, so no append races the final flush.
	storageCtx, stopStorage := context.WithCancel(context.Background())
	storageDone := make(chan struct{})
	go func() {
		defer close(storageDone)
		logs.Run(storageCtx)
	}()
	defer func() {
		stopStorage()
		<-storageDone
	}()

	// The server outlives the signal: it keeps serving while the controller
	// moves this broker's leaderships away, so clients follow them without
	// ever finding a partition offline.
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx) }()

	<-ctx.Done()
	log.Info("shutting down")
	if cfg.ControlledShutdown {
		controlledShutdown(session, cfg.ControlledShutdownTimeout, log)
	}
	stopServing()
	return <-served // once every connection is closed
}

// controlledShutdown asks the controller to move this broker's leaderships
// to other in-sync replicas, within timeout. Failing that, the broker stops
// anyway: the controller then handles it as a failed broker.
func controlledShutdown(session *coordinator.Session, timeout time.Duration, log *logrus.Entry) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if err := session.ControlledShutdown(ctx); err != nil {
		log.WithError(err).Warn("controlled shutdown did not complete; stopping anyway")
		return
	}
	log.WithField("took", time.Since(start).Round(time.Millisecond)).Info("controlled shutdown complete")
}

// zooKeeperSecurity turns the broker's ZooKeeper security keys into the
// session's settings, loading the TLS stores.
func zooKeeperSecurity(z config.ZooKeeperSecurity) (zksecure.Settings, error) {
	tls, err := zksecure.LoadTLS(z.TLSProperties)
	if err != nil {
		return zksecure.Settings{}, err
	}
	s := zksecure.Settings{
		SetACL: z.SetACL,
		Digest: zksecure.Digest{User: z.DigestUser, Password: z.DigestPassword},
		TLS:    tls,
	}
	if err := s.Validate(); err != nil {
		return zksecure.Settings{}, err
	}
	return s, nil
}
