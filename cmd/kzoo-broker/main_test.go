package main

import (
	"net"
	"strings"
	"testing"
)

// TestRunRefusesToStart covers start-up failures that must end with a clear
// message instead of a hang: bad flags, bad config, ZooKeeper unreachable.
func TestRunRefusesToStart(t *testing.T) {
	// A port nothing listens on: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	cases := map[string]struct {
		args []string
		want string
	}{
		"positional argument": {[]string{"extra"}, `unexpected argument "extra"`},
		"unknown flag":        {[]string{"--nope"}, "flag provided but not defined"},
		"missing broker.id":   {[]string{"--override", "log.dirs=" + dir}, "broker.id is required"},
		"unknown key":         {[]string{"--override", "broker.idd=1"}, `unknown config key "broker.idd"`},
		"missing config file": {[]string{"--config", dir + "/none.yaml"}, "read config"},
		"ZooKeeper unreachable": {[]string{
			"--override", "broker.id=1", "--override", "log.dirs=" + dir,
			"--override", "listeners=PLAINTEXT://127.0.0.1:0",
			"--override", "zookeeper.connect=" + dead,
			"--override", "zookeeper.connection.timeout.ms=1500",
		}, "no session established within 1.5s"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("KZOO_BROKER_ID", "") // the test's own environment must not leak in
			err := run(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v, want an error mentioning %q", tc.args, err, tc.want)
			}
		})
	}
}
