// Package console holds the end-to-end test of the brokers' web console,
// run in headless Chromium (chromedp) against real ZooKeeper and broker
// processes (e2e/cluster, which turns the console on through
// scripts/cluster):
//
//   - TestConsole loads every page of a three-broker cluster and checks the
//     figures it shows against what the Kafka protocol says (brokers alive,
//     the controller, partition counts, leaders, log end offsets, a group's
//     lag of 1,000 records nobody consumed); it SIGKILLs the leader of a
//     partition and watches the new leader arrive in the open page without a
//     reload (Server-Sent Events); it runs the preferred leader election
//     through its confirmation, checks that both colour schemes read, that
//     a group id with HTML in it shows as text, the 404 and 400 pages, and
//     that no page script throws. A PNG screenshot of every page goes to
//     the test's artifact directory (go test -artifacts keeps them).
//
// The test skips itself when no Chromium is installed (make deps installs
// Debian's chromium) and in -short mode. The package has no code of its
// own outside its tests.
package console
